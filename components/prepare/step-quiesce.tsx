// Step 3: quiesce (needed for persistent children) and whether the parent keeps running.
import type { StepProps } from './form';

export function StepQuiesce({ form, set }: StepProps) {
  return (
    <div className="space-y-3">
      <p className="text-sm text-slate-400">
        <b className="text-slate-200">Quiesce</b> freezes and flushes the guest&apos;s file systems (guest-fsfreeze / sync through the agent) right before the freeze, so the base disk is consistent on its
        own. It is <b className="text-slate-200">required for persistent children</b>, which get their own delta disk on that base and can later be stopped and cold-booted. Without it, only
        non-persistent (throwaway) children can be forked.
      </p>
      {/* before quiesce in tab order: quiesce stays the last field before Back / Next */}
      <label className="flex items-center gap-2 text-sm text-slate-200" htmlFor="keep-parent">
        <input id="keep-parent" type="checkbox" checked={form.keepParent} onChange={(e) => set('keepParent', e.target.checked)} />
        Keep the parent running (the template is a copy of this moment; the parent continues as itself)
      </label>
      <label className="flex items-center gap-2 text-sm text-slate-200" htmlFor="quiesce">
        <input id="quiesce" type="checkbox" checked={form.quiesce} onChange={(e) => set('quiesce', e.target.checked)} />
        Quiesce before the freeze (allows persistent children)
      </label>
      <p className="text-sm text-slate-400">
        Then the parent is <b className="text-slate-200">frozen</b>: QEMU stops it and writes its device state to a checkpoint; its RAM file and disk become the read-only template.
      </p>
    </div>
  );
}
