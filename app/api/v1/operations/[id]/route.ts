// DESIGN.md names the same resource /api/v1/operations/ID: one handler for both paths.
export { GET } from '../../tasks/[id]/route';

export const dynamic = 'force-dynamic';
