export function bytes(b: number | undefined | null): string {
  if (b === undefined || b === null || !Number.isFinite(b)) return '–';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = b;
  while (Math.abs(v) >= 1024 && i < u.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v >= 100 || i === 0 ? 0 : 1)} ${u[i]}`;
}

export function ms(v: number | undefined | null): string {
  if (v === undefined || v === null || !Number.isFinite(v)) return '–';
  if (v < 1000) return `${Math.round(v)} ms`;
  if (v < 60_000) return `${(v / 1000).toFixed(v < 10_000 ? 2 : 1)} s`;
  return `${Math.floor(v / 60_000)} min ${Math.round((v % 60_000) / 1000)} s`;
}

export function ago(iso: string | number | undefined | null, now = Date.now()): string {
  if (!iso) return '–';
  const t = typeof iso === 'number' ? iso : Date.parse(iso);
  const s = Math.max(0, Math.round((now - t) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}

export function randomSuffix(n = 4): string {
  return Math.random().toString(36).slice(2, 2 + n).padEnd(n, '0');
}

/** "1 child", "3 children", "1 VM", "2 VMs": the count with the word in the right number. */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** Milliseconds with a decimal below 10 ms (claim latency is often a few ms). */
export function msFine(v: number | undefined | null): string {
  if (v === undefined || v === null || !Number.isFinite(v)) return '–';
  return v < 10 ? `${v.toFixed(1)} ms` : ms(v);
}

/**
 * "2026-12-01 21:03 UTC": the same text on the server and in every browser (a date rendered on the
 * server with the browser's zone or language would not match at hydration: React #418).
 */
export function utcMinute(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? '–' : `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

/** Seconds in days, hours, minutes and seconds, zero parts left out: "1 min 30 s", "15 min", "8 h", "1 d 12 h". */
export function seconds(s: number): string {
  const parts: string[] = [];
  let rest = Math.round(s);
  for (const [unit, size] of [['d', 86400], ['h', 3600], ['min', 60], ['s', 1]] as const) {
    if (rest >= size || (unit === 's' && parts.length === 0)) {
      parts.push(`${Math.floor(rest / size)} ${unit}`);
      rest %= size;
    }
  }
  return parts.join(' ');
}

/**
 * "3.1 GiB / 23.4 GiB": memory in use of a total (the use is "–" until a host reports it); compact,
 * one unit when both share it: "3.1 / 23.4 GiB" (the wall, where every character is a big one).
 */
export function usedOf(used: number | null | undefined, total: number, compact = false): string {
  const [u, t] = [bytes(used), bytes(total)];
  const unit = / (\S+)$/.exec(t)?.[1];
  return compact && unit && u.endsWith(` ${unit}`) ? `${u.slice(0, -unit.length - 1)} / ${t}` : `${u} / ${t}`;
}
