// Checks the host and applies migrations; prints one sentence and exits 1 when something is wrong.
import { preflight } from '../lib/preflight';

preflight().then(
  () => process.exit(0),
  (e: Error) => {
    console.error(`instaclone: ${e.message}`);
    process.exit(1);
  },
);
