// How each kind of operation's end is said in its toast (operation-watch.ts): what was made or done.
// The engine's sentence is the text of a failure; these phrase a success from its typed result.
import type { EndNote } from './operation-watch';
import { bytes, ms, plural } from './format';
import type { ForkResult, ImportedImage, PrepareResult } from './types';

/**
 * A fork: "web-tpl: 3 children ready in 1.2 s"; a live fork names the template made from its source
 * and the source's pause: "web-3: 3 children of web-3-at-1 ready in 2.1 s; web-3 paused 40 ms".
 */
export function forkNote(from: { name: string; href: string }): EndNote<ForkResult> {
  return {
    target: from.name,
    href: from.href,
    text: (r) => {
      const of = r.template && r.template.name !== from.name ? ` of ${r.template.name}` : '';
      const pause = r.pause && r.source ? `; ${r.source.name} paused ${ms(r.pause.pauseMs)}` : '';
      return `${plural(r.children.length, 'child', 'children')}${of} ready in ${ms(r.timings.totalMs)}${pause}`;
    },
  };
}

export function prepareNote(name: string): EndNote<PrepareResult> {
  return { target: name, href: `/templates/${encodeURIComponent(name)}`, text: (r) => `template ${r.name} ready (boot ${ms(r.timings.bootMs)}, freeze ${ms(r.timings.freezeMs)})` };
}

/** A reset of many: how many were reset, and which failed. */
export function resetNote(): EndNote<{ results: ({ ref: string; ok: true } | { ref: string; ok: false; error: string })[] }> {
  return {
    text: ({ results }) => {
      const failed = results.filter((r) => !r.ok).map((r) => r.ref);
      return `${results.length - failed.length} of ${plural(results.length, 'VM')} reset${failed.length ? `; failed: ${failed.join(', ')}` : ''}`;
    },
  };
}

export function pushNote(pool: string, template: string): EndNote<unknown> {
  return { target: pool, href: '/pools', text: () => `pushed to template ${template}: spares roll now, claimed children when released` };
}

export function importNote(name: string): EndNote<ImportedImage> {
  return { target: name, href: '/images', text: (img) => `imported (${img.format}, ${bytes(img.virtualSizeBytes)})` };
}
