// Prisma CLI configuration. Offline-friendly: the wasm schema engine through a driver adapter
// (no native engine downloads; see VERIFIED.md). PRISMA_SCHEMA selects the SQLite or PostgreSQL twin.
import path from 'node:path';
import { defineConfig } from 'prisma/config';
import { config } from './lib/config';

const cfg = config();
const postgres = cfg.databaseKind === 'postgresql';

export default defineConfig({
  experimental: { adapter: true },
  engine: 'js',
  schema: postgres ? path.join('prisma', 'postgresql', 'schema.prisma') : path.join('prisma', 'schema.prisma'),
  migrations: { path: postgres ? path.join('prisma', 'postgresql', 'migrations') : path.join('prisma', 'migrations') },
  async adapter() {
    if (postgres) {
      const { PrismaPg } = await import('@prisma/adapter-pg');
      return new PrismaPg({ connectionString: cfg.databaseUrl });
    }
    const { PrismaBetterSQLite3 } = await import('@prisma/adapter-better-sqlite3');
    return new PrismaBetterSQLite3({ url: cfg.databaseUrl });
  },
});
