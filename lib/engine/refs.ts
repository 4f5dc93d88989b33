// One way to turn a reference (an id or a unique name, DESIGN.md) into a row. An id wins over a name.
import { db } from '../db';
import { EngineError } from './errors';

export const findVm = async (ref: string) => (await db().vm.findUnique({ where: { id: ref } })) ?? (await db().vm.findUnique({ where: { name: ref } }));
export const findTemplate = async (ref: string) => (await db().template.findUnique({ where: { id: ref } })) ?? (await db().template.findUnique({ where: { name: ref } }));

export async function vmByRef(ref: string) {
  const v = await findVm(ref);
  if (!v) throw new EngineError('not_found', `No VM named "${ref}"; list VMs with \`instaclone ls\`.`);
  return v;
}

export async function templateByRef(ref: string) {
  const t = await findTemplate(ref);
  if (!t) throw new EngineError('not_found', `No template named "${ref}"; list templates with \`instaclone ls\`.`);
  return t;
}
