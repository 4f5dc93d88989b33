// Reads only: template mutations are server actions (app/actions/templates.ts). The answer is the engine's TemplateDetail.
import type { TemplateDetail } from '../types';
import { api, enc } from './http';

export const fetchTemplate = (ref: string) => api<TemplateDetail>('GET', `/api/v1/templates/${enc(ref)}`);
