// Prisma's driver adapters (6.19) with transactions that always end, and every wait bounded.
// SQLite: Prisma's better-sqlite3 adapter. Its own transaction lock
// is released only by commit()/rollback(), which Prisma calls only after its COMMIT or ROLLBACK
// statement succeeded. On a full disk SQLite rolls a failed transaction back by itself, Prisma's
// ROLLBACK then fails ("no transaction is active"), the lock stays held, and every later
// transaction (updateMany, deleteMany, nested writes) waited forever with no timer armed: a failed
// fork could not even mark its task failed (CI hang in faults-disk). Here a failed COMMIT is rolled
// back, a ROLLBACK that finds no transaction counts as done, the lock is released either way, and
// waiting for it has a bound.
// PostgreSQL: the pg adapter gives a transaction's pooled connection back only in commit()/rollback()
// too, so a failed COMMIT kept it; once the pool was used up, every query waited for a connection
// with no bound. Here the connection goes back either way, and the pool wait is bounded.
import { PrismaBetterSQLite3 } from '@prisma/adapter-better-sqlite3';
import { PrismaPg } from '@prisma/adapter-pg';

type Adapter = Awaited<ReturnType<PrismaBetterSQLite3['connect']>>;
type Tx = Awaited<ReturnType<Adapter['startTransaction']>>;
type Query = Parameters<Adapter['executeRaw']>[0];

/** How long a transaction waits for the one before it (statements are synchronous: a live one ends in milliseconds). */
export const TX_LOCK_WAIT_MS = 30_000;

const stmt = (sql: string): Query => ({ sql, args: [], argTypes: [] });
const noTransaction = (e: unknown) => /no transaction is active/i.test(String((e as Error)?.message ?? e));

/** One transaction at a time on the connection; `acquire` rejects after `waitMs`. */
class TxLock {
  private tail: Promise<void> = Promise.resolve();

  async acquire(waitMs: number): Promise<() => void> {
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const before = this.tail;
    this.tail = before.then(() => mine);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), waitMs)));
    const won = await Promise.race([before.then(() => 'ok' as const), timedOut]);
    clearTimeout(timer);
    if (won === 'timeout') {
      // our place in the queue passes on as soon as the holder is done
      release();
      throw new Error(`The database stayed locked by an unfinished transaction for ${waitMs / 1000} s; retry, and restart the console if it persists.`);
    }
    let done = false;
    return () => {
      if (!done) (done = true), release();
    };
  }
}

function wrapAdapter(inner: Adapter, waitMs: number): Adapter {
  const lock = new TxLock();
  const adapter: Adapter = {
    provider: inner.provider,
    adapterName: inner.adapterName,
    queryRaw: (q) => inner.queryRaw(q),
    executeRaw: (q) => inner.executeRaw(q),
    executeScript: (s) => inner.executeScript(s),
    dispose: () => inner.dispose(),
    ...(inner.getConnectionInfo ? { getConnectionInfo: () => inner.getConnectionInfo!() } : {}),
    async startTransaction(isolationLevel) {
      if (isolationLevel && isolationLevel !== 'SERIALIZABLE') return inner.startTransaction(isolationLevel); // the adapter's own refusal
      const release = await lock.acquire(waitMs);
      try {
        await inner.executeRaw(stmt('BEGIN'));
      } catch (e) {
        release();
        throw e;
      }
      const tx: Tx = {
        provider: inner.provider,
        adapterName: inner.adapterName,
        options: { usePhantomQuery: false }, // Prisma sends COMMIT / ROLLBACK through executeRaw below
        queryRaw: (q) => inner.queryRaw(q),
        async executeRaw(q) {
          const end = q.sql.trim().toUpperCase();
          if (end !== 'COMMIT' && end !== 'ROLLBACK') return inner.executeRaw(q);
          try {
            return await inner.executeRaw(q);
          } catch (e) {
            if (end === 'COMMIT') await inner.executeRaw(stmt('ROLLBACK')).catch(() => 0); // the connection must not stay inside it
            else if (noTransaction(e)) return 0; // SQLite already rolled it back (e.g. SQLITE_FULL): the caller's own error stands
            throw e;
          } finally {
            release();
          }
        },
        commit: async () => release(),
        rollback: async () => release(),
      };
      return tx;
    },
  };
  return adapter;
}

/** The SQLite driver adapter for the one Prisma client (lib/db). */
export function sqliteAdapter(url: string, waitMs = TX_LOCK_WAIT_MS): Pick<PrismaBetterSQLite3, 'provider' | 'adapterName' | 'connect' | 'connectToShadowDb'> {
  const factory = new PrismaBetterSQLite3({ url });
  return {
    provider: factory.provider,
    adapterName: factory.adapterName,
    connect: async () => wrapAdapter(await factory.connect(), waitMs),
    connectToShadowDb: async () => wrapAdapter(await factory.connectToShadowDb(), waitMs),
  };
}

type PgAdapter = Awaited<ReturnType<PrismaPg['connect']>>;

/** How long a query waits for a pooled PostgreSQL connection. */
export const PG_CONNECT_WAIT_MS = 30_000;

function wrapPgAdapter(inner: PgAdapter): PgAdapter {
  const adapter = Object.create(inner) as PgAdapter; // everything else as the adapter has it
  adapter.startTransaction = async (isolationLevel) => {
    const tx = await inner.startTransaction(isolationLevel);
    let ended = false;
    const end = async () => {
      if (!ended) (ended = true), await tx.rollback(); // gives the connection back to the pool
    };
    const wrapped = Object.create(tx) as typeof tx;
    wrapped.executeRaw = async (q) => {
      const sql = q.sql.trim().toUpperCase();
      if (sql !== 'COMMIT' && sql !== 'ROLLBACK') return tx.executeRaw(q);
      try {
        return await tx.executeRaw(q);
      } catch (e) {
        if (sql === 'COMMIT') await tx.executeRaw(stmt('ROLLBACK')).catch(() => 0);
        await end();
        throw e;
      }
    };
    wrapped.commit = async () => {
      if (!ended) (ended = true), await tx.commit();
    };
    wrapped.rollback = end;
    return wrapped;
  };
  return adapter;
}

/** The PostgreSQL driver adapter for the one Prisma client (lib/db); `schema`: an agent's own. */
export function pgAdapter(connectionString: string, schema?: string): Pick<PrismaPg, 'provider' | 'adapterName' | 'connect' | 'connectToShadowDb'> {
  const factory = new PrismaPg(
    // an agent's schema: model queries name it, raw SQL (the pool claim's fast path) finds it through search_path
    { connectionString, connectionTimeoutMillis: PG_CONNECT_WAIT_MS, ...(schema ? { options: `-c search_path=${schema}` } : {}) },
    schema ? { schema } : undefined,
  );
  return {
    provider: factory.provider,
    adapterName: factory.adapterName,
    connect: async () => wrapPgAdapter(await factory.connect()),
    connectToShadowDb: async () => wrapPgAdapter(await factory.connectToShadowDb()),
  };
}
