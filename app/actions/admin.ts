'use server';
// Server actions for tokens and settings (admin): the same services the REST routes call.
import { runAction } from '@/lib/api/action';
import { getSettings, updateSettings } from '@/lib/services/settings';
import { createToken, listTokens, revokeToken } from '@/lib/services/tokens';
import type { SettingsInput } from '@/lib/validations/settings';

export async function listTokensAction() {
  return runAction(listTokens);
}
export async function createTokenAction(input: { name: string; role: 'viewer' | 'operator' | 'admin' }) {
  return runAction(createToken, input);
}
export async function revokeTokenAction(input: { ref: string }) {
  return runAction(revokeToken, input);
}
export async function getSettingsAction() {
  return runAction(getSettings);
}
export async function updateSettingsAction(input: Partial<SettingsInput>) {
  return runAction(updateSettings, input);
}
