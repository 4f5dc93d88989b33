// `npm run agent`: one host of many (lib/cluster/agent.ts). Needs DATABASE_URL (PostgreSQL),
// INSTACLONE_HOST_NAME, INSTACLONE_AGENT_SECRET; its own INSTACLONE_HOME, INSTACLONE_RUN and PORT.
import { startAgent } from '../lib/cluster/agent';
import { config } from '../lib/config';

startAgent().then(
  (a) => {
    console.log(`instaclone agent ${config().hostName}: serving ${a.url}`);
    const stop = () => a.stop().then(() => process.exit(0), () => process.exit(1));
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  },
  (e: Error) => {
    console.error(`instaclone agent: ${e.message}`);
    process.exit(1);
  },
);
