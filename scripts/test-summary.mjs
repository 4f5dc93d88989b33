// Sums the JSON reports of Vitest and Playwright into one closing line: "N passed, N failed".
import fs from 'node:fs';
import path from 'node:path';

const dir = process.argv[2];
let passed = 0;
let failed = 0;
let skipped = 0;
const read = (f) => {
  try {
    return JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'));
  } catch {
    return null;
  }
};
const v = read('vitest.json');
if (v) {
  passed += v.numPassedTests;
  failed += v.numFailedTests;
  // a file that failed without a failing test (it did not load, or a hook failed) counts once
  for (const f of v.testResults ?? []) {
    if (f.status === 'failed' && !(f.assertionResults ?? []).some((a) => a.status === 'failed')) failed += 1;
  }
  skipped += v.numPendingTests + v.numTodoTests;
}
const p = read('playwright.json');
if (p?.stats) {
  passed += p.stats.expected;
  failed += p.stats.unexpected;
  skipped += p.stats.skipped;
}
if (!v) failed += 1; // the unit/engine runner did not report: count it as a failure
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failed > 0 || passed === 0 ? 1 : 0);
