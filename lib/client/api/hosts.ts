// Many hosts: GET /api/v1/hosts and drain/ready (the server's HostView is the type).
import type { HostView } from '@/lib/cluster/views';
import { api, enc } from './http';

export type { HostView };
export const fetchHosts = async () => (await api<{ hosts: HostView[] }>('GET', '/api/v1/hosts')).hosts;
export const setHostState = (name: string, action: 'drain' | 'ready') => api<{ name: string; state: string }>('POST', `/api/v1/hosts/${enc(name)}/${action}`);
