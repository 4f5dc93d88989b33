'use server';
// Server actions for templates (lib/services/templates): the same services the REST routes call.
import { runAction } from '@/lib/api/action';
import * as templates from '@/lib/services/templates';
import type { LiveForkInput, PrepareRequest } from '@/lib/validations';

type Ref = { ref: string };

export async function prepareAction(input: PrepareRequest) {
  return runAction(templates.prepareTemplate, input);
}
/** A template, or a running VM's name (live fork). */
export async function forkAction(input: Ref & Partial<LiveForkInput> & { count: number }) {
  return runAction(templates.forkTemplate, input);
}
export async function resumeTemplateAction(input: Ref) {
  return runAction(templates.resumeTemplate, input);
}
export async function removeTemplateAction(input: Ref & { force?: boolean }) {
  return runAction(templates.removeTemplate, input);
}
/** A read the REST API does not offer: the template's files with their allocated sizes. */
export async function templateFilesAction(input: Ref) {
  return runAction(templates.getTemplateFiles, input);
}
