'use client';
// Create a pool: name, template, size, spares, on-release, TTL. The server validates with the shared schema.
import { useState } from 'react';
import { createPoolAction } from '@/app/actions/pools';
import { useAction } from '@/lib/client/actions';
import { errorText } from '@/lib/client/api/http';
import { useLs } from '@/lib/client/hooks';
import { Button } from '@/components/ui/button';
import { ErrorNote } from '@/components/ui/misc';

const field = 'rounded border border-slate-600 bg-slate-900 px-2 py-1 text-sm';

export function CreatePoolForm() {
  const ls = useLs();
  const create = useAction(createPoolAction, 'pool');
  const templates = (ls.data?.templates ?? []).filter((t) => t.state === 'frozen');
  const [name, setName] = useState('');
  const [template, setTemplate] = useState('');
  const [size, setSize] = useState('4');
  const [spares, setSpares] = useState('2');
  const [onRelease, setOnRelease] = useState<'reset' | 'delete'>('reset');
  const [ttl, setTtl] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function submit(e: React.FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await create.mutateAsync({ name, template: template || templates[0]?.name || '', size: Number(size), spares: Number(spares), onRelease, ...(ttl ? { ttl } : {}) });
      setName('');
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <form onSubmit={submit} className="flex flex-wrap items-end gap-3" aria-label="Create a pool">
      <label className="flex flex-col text-xs text-slate-400">
        Name
        <input className={field} value={name} onChange={(e) => setName(e.target.value)} placeholder="web-pool" data-testid="pool-name" />
      </label>
      <label className="flex flex-col text-xs text-slate-400">
        Template
        <select className={field} value={template} onChange={(e) => setTemplate(e.target.value)} data-testid="pool-template">
          {templates.map((t) => (
            <option key={t.id} value={t.name}>
              {t.name}
            </option>
          ))}
        </select>
      </label>
      <label className="flex flex-col text-xs text-slate-400">
        Size (max children)
        <input className={`${field} w-24`} type="number" min={1} value={size} onChange={(e) => setSize(e.target.value)} data-testid="pool-size" />
      </label>
      <label className="flex flex-col text-xs text-slate-400">
        Spares
        <input className={`${field} w-20`} type="number" min={0} value={spares} onChange={(e) => setSpares(e.target.value)} data-testid="pool-spares" />
      </label>
      <label className="flex flex-col text-xs text-slate-400">
        On release
        <select className={field} value={onRelease} onChange={(e) => setOnRelease(e.target.value as 'reset' | 'delete')}>
          <option value="reset">reset (back to spare)</option>
          <option value="delete">delete (fork a fresh spare)</option>
        </select>
      </label>
      <label className="flex flex-col text-xs text-slate-400">
        TTL (optional)
        <input className={`${field} w-24`} value={ttl} onChange={(e) => setTtl(e.target.value)} placeholder="15m" />
      </label>
      <Button type="submit" variant="primary" busy={busy} disabled={busy || templates.length === 0} data-testid="pool-create">
        Create pool
      </Button>
      {templates.length === 0 && <p className="w-full text-xs text-slate-400">Prepare a template first: a pool forks its spares from one.</p>}
      {error && <ErrorNote error={error} className="w-full" />}
    </form>
  );
}
