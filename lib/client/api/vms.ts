// Reads only: VM mutations are server actions (app/actions/vms.ts). The answer is the engine's VmDetail.
import type { VmDetail } from '../types';
import { api, enc } from './http';

export const fetchVm = (ref: string) => api<VmDetail>('GET', `/api/v1/vms/${enc(ref)}`);
