// Reads one operation (a long action's task row): GET /api/v1/operations/ID.
import { api, enc } from './http';

export const fetchOperationRow = (id: string) => api<Record<string, unknown>>('GET', `/api/v1/operations/${enc(id)}`);
