// Admission-control limits. Reading (viewer): the limits in force, the defaults, and the host facts they
// are checked against. Changing (admin): every attempt, applied or refused, is in the event log.
import { require } from '../auth';
import { capacityView } from '../engine/capacity';
import { logEvent } from '../engine/event-log';
import { DEFAULT_LIMITS, getLimits, setLimits } from '../engine/limits';
import { isEngineError } from '../engine/errors';
import { settingsSchema } from '../validations/settings';
import { noInput, service, type Actor } from './service';

/** The limits in force, their defaults, the host facts and each frozen template's fork capacity. */
export const getSettings = service({ role: 'viewer', input: noInput, run: () => capacityView() });

const log = (actor: string, result: 'ok' | 'error', message: string) => logEvent(actor, 'settings', { name: 'limits' }, result, message);

const update = service({
  role: 'admin',
  input: settingsSchema,
  run: async (a, input) => {
    const before = await getLimits();
    const limits = await setLimits(input);
    const changed = Object.keys(input)
      .map((k) => `${k} ${JSON.stringify(before[k as keyof typeof before])} → ${JSON.stringify(limits[k as keyof typeof limits])}`)
      .join(', ');
    await log(a.name, 'ok', changed);
    return { limits, defaults: DEFAULT_LIMITS };
  },
});

/** Changes some limits; a refused change (bad input) is logged too, by the admin who tried it. */
export async function updateSettings(actor: Actor | null, raw?: unknown) {
  const who = require(actor, 'admin');
  try {
    return await update(who, raw);
  } catch (e) {
    if (isEngineError(e) && e.code === 'invalid') await log(who.name, 'error', e.message);
    throw e;
  }
}
