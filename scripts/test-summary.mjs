// Sums the JSON reports of Vitest and Playwright into one closing line: "N passed, N failed", after
// naming every skipped test (a skip must be seen, not just counted) and Playwright's own errors
// (a config or global set-up failure that ran no test at all).
import fs from 'node:fs';
import path from 'node:path';

const dir = process.argv[2];
let passed = 0;
let failed = 0;
const skippedNames = [];
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
  for (const f of v.testResults ?? []) {
    // a file that failed without a failing test (it did not load, or a hook failed) counts once
    if (f.status === 'failed' && !(f.assertionResults ?? []).some((a) => a.status === 'failed')) failed += 1;
    for (const a of f.assertionResults ?? []) {
      if (a.status === 'skipped' || a.status === 'pending' || a.status === 'todo') skippedNames.push(`${path.relative(process.cwd(), f.name)} > ${a.fullName ?? a.title}`);
    }
  }
}
const p = read('playwright.json');
if (p?.stats) {
  passed += p.stats.expected;
  failed += p.stats.unexpected;
  const walk = (suite, file) => {
    for (const s of suite.suites ?? []) walk(s, s.file ?? file);
    for (const spec of suite.specs ?? []) {
      for (const t of spec.tests ?? []) if (t.status === 'skipped') skippedNames.push(`${spec.file ?? file} > ${spec.title}`);
    }
  };
  for (const s of p.suites ?? []) walk(s, s.file);
}
const pwErrors = p?.errors ?? [];
for (const e of pwErrors) console.log(`playwright error: ${(e.message ?? String(e)).split('\n')[0]}`);
failed += pwErrors.length;
for (const s of skippedNames) console.log(`skipped: ${s}`);
if (!v) failed += 1; // the unit/engine runner did not report: count it as a failure
console.log(`${passed} passed, ${failed} failed${skippedNames.length ? `, ${skippedNames.length} skipped` : ''}`);
process.exit(failed > 0 || passed === 0 ? 1 : 0);
