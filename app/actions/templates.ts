'use server';
// Server actions for templates (lib/services/templates): the same services the REST routes call.
// Prepare and fork answer {operationId} at once; the page follows it (lib/client/use-operation.ts).
import { runAction, runStart } from '@/lib/api/action';
import * as templates from '@/lib/services/templates';
import type { LiveForkInput, PrepareRequest } from '@/lib/validations';

type Ref = { ref: string };

export async function prepareAction(input: PrepareRequest) {
  return runStart(templates.prepareTemplate, input);
}
/** A template, or a running VM's name (live fork). */
export async function forkAction(input: Ref & Partial<LiveForkInput> & { count: number }) {
  return runStart(templates.forkTemplate, input);
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
