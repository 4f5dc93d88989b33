// The steps of a prepare as the engine's task reports them ("ISO-TIME step: message" log lines and
// task events with `step`), for the wizard's running view.
export const PHASES = [
  { key: 'boot', label: 'Boot the parent', match: /boot|launch|start|agent/ },
  { key: 'warmup', label: 'Run warm-up commands', match: /warm/ },
  { key: 'quiesce', label: 'Quiesce file systems', match: /quiesc|fsfreeze|sync/ },
  { key: 'freeze', label: 'Freeze: checkpoint the device state', match: /freez|migrat|checkpoint|stop/ },
  { key: 'slots', label: 'Register slots', match: /slot|prelaunch/ },
] as const;

export const STEP_PHASE: Record<string, number> = { boot: 0, warmup: 1, quiesce: 2, freeze: 3, slots: 4 };

/** The engine logs "ISO-TIME step: message" lines; the furthest step reached is the current phase. */
export function phaseFromLog(log: string): number {
  let phase = 0;
  for (const line of log.split('\n')) {
    const step = line.split(' ')[1]?.replace(/:$/, '');
    if (step && STEP_PHASE[step] !== undefined) phase = Math.max(phase, STEP_PHASE[step]);
  }
  return phase;
}
