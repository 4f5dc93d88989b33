// Creates a password user in the e2e console's database (INSTACLONE_HOME/DATABASE_URL from the
// environment): browsers log in with a password, since only viewer tokens open a session.
// npx tsx tests/e2e/make-user.ts NAME ROLE PASSWORD — an existing user of that name is left as it is.
import { createUser } from '../../lib/auth/sessions';
import { db, disconnectDb } from '../../lib/db';
import type { Role } from '../../lib/auth/roles';

const [name, role, password] = process.argv.slice(2);
if (!(await db().user.findUnique({ where: { username: name } }))) await createUser(name, password, role as Role);
await disconnectDb();
