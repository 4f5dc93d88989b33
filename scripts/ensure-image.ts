// Builds a guest image when it is missing or its recipe changed (cached in INSTACLONE_HOME/images).
import { config } from '../lib/config';
import { ensureImage } from '../lib/guest/images';

const name = (process.argv[2] ?? 'tiny') as 'tiny' | 'debian';
ensureImage(name, config().home, { onLog: (l) => console.log(`image ${name}: ${l}`) }).then(
  (m) => {
    console.log(`image ${name}: ready (kernel ${m.kernel}, ${(m.sizeBytes / 2 ** 20).toFixed(1)} MiB)`);
    process.exit(0);
  },
  (e: Error) => {
    console.error(`instaclone: ${e.message}`);
    process.exit(1);
  },
);
