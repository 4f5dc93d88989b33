// Bytes a hostile guest controls, on their way to people: the identity read-back quoted in an error
// (stored, sent to every browser on the event stream, printed by the CLI) is bounded and carries no
// control characters, and the CLI shows escapes instead of obeying them.
import { describe, expect, it } from 'vitest';
import { forTerminal, json, plain } from '../../bin/terminal';
import { guestList, guestText } from '../../lib/engine/guest-text';
import type { ReadBack } from '../../lib/engine/identity/transports';
import { verify } from '../../lib/engine/identity/verify';
import { identityPlan } from './fixtures';

const ESC = '\u001b';
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;
const MiB = 1 << 20;

function hostile(): ReadBack {
  const kv = new Map<string, string>([
    ['hostname', `${ESC}]52;c;cm0gLXJmIH4K${'\u0007'}${'x'.repeat(MiB)}`], // OSC 52: write the operator's clipboard
    ['etchostname', `web-1${ESC}[2K${ESC}[1A\rall good`], // erase the line, move up
    ['machineid', '\u202edcba'],
    ['mac', `${ESC}]0;pwned${'\u0007'}`],
    ['ip', Array.from({ length: 20_000 }, (_, i) => `inet 10.${i >> 8 & 255}.${i & 255}.1/24`).join(' ')],
    ['urandom', `${ESC}[31m`.repeat(10_000)],
    ['reseed', 'ok'],
    ['timens', `${ESC}c`],
    ['steps', `a:1,${ESC}]8;;http://evil/${ESC}\\`.repeat(50_000)],
  ]);
  return { method: 'helper', kv, exitCode: 0, stderr: `${ESC}[?1049h${'y'.repeat(4 * MiB)}\n${ESC}P+q${ESC}\\`, before: 0n, after: 1n, calls: 1, setTimeMs: 0, clockError: `${ESC}]2;t${'\u0007'}` };
}

describe('guest text in messages', () => {
  it('is bounded and its control characters are escapes, not bytes', () => {
    expect(guestText('web-1')).toBe('web-1');
    expect(guestText(`a${ESC}[2Jb\n`)).toBe('a\\u001b[2Jb\\u000a');
    expect(guestText('x'.repeat(1000), 10)).toBe(`${'x'.repeat(10)}… (990 more characters)`);
    expect(guestText('\u202eevil')).toBe('\\u202eevil');
    expect(guestList(['1', '2', '3', '4', '5', '6'])).toBe('1, 2, 3, 4 and 2 more');
  });

  it("a hostile guest's identity read-back gives short problems that cannot drive a terminal", () => {
    const r = verify(identityPlan, 24, hostile());
    expect(r.problems.length).toBeGreaterThanOrEqual(6);
    const text = r.problems.join('; ');
    expect(text).not.toMatch(CONTROL);
    expect(text.length).toBeLessThan(6000); // megabytes in, a few KiB of words out
    expect(text).toContain('hostname is "\\u001b]52;c;');
    expect(text).toMatch(/eth0 has 10\.0\.0\.1\/24, 10\.0\.1\.1\/24, 10\.0\.2\.1\/24, 10\.0\.3\.1\/24 and 19996 more, expected/);
  });

  it('bounds what a passing read-back stores (guest steps)', () => {
    const p = identityPlan;
    const kv = new Map([
      ['hostname', p.hostname], ['etchostname', p.hostname], ['machineid', p.machineId], ['mac', p.mac], ['ip', `${p.ip}/24`],
      ['urandom', '0123456789abcdef0123456789abcdef'], ['reseed', 'ok'], ['timens', '1'], ['steps', `${ESC}]0;x\u0007`.repeat(100_000)],
    ]);
    const r = verify(p, 24, { method: 'helper', kv, exitCode: 0, stderr: '', before: 0n, after: 2n, calls: 1, setTimeMs: 0, clockError: null });
    expect(r.problems).toEqual([]);
    const steps = 'proved' in r ? r.proved.guestSteps ?? '' : '';
    expect(steps.length).toBeLessThan(3000);
    expect(steps).not.toMatch(CONTROL);
  });
});

describe("the CLI's output", () => {
  it('shows escapes in messages and tables instead of obeying them; newlines and tabs stay', () => {
    expect(plain(`child web-1: hostname is "${ESC}]52;c;AAAA\u0007"\tok\nnext`)).toBe('child web-1: hostname is "\\u001b]52;c;AAAA\\u0007"\tok\nnext');
    expect(plain('a\rb\u009bc\u202ed')).toBe('a\\u000db\\u009bc\\u202ed');
  });

  it('writes --json that parses to the same value, with no raw control character a terminal would obey', () => {
    const v = { hostname: `a${ESC}]0;x\u0007\u009b2J\u202eb\u007f` };
    const out = json(v);
    expect(JSON.parse(out)).toEqual(v);
    expect(out).not.toMatch(CONTROL);
  });

  it("passes a guest command's colours, carriage returns and backspaces to a terminal, nothing else", () => {
    expect(forTerminal(`${ESC}[1;31mred${ESC}[0m\r50%\bx\n`)).toBe(`${ESC}[1;31mred${ESC}[0m\r50%\bx\n`);
    expect(forTerminal(`${ESC}]0;title\u0007${ESC}[2J${ESC}P${ESC}[6n`)).toBe('\\u001b]0;title\\u0007\\u001b[2J\\u001bP\\u001b[6n');
  });
});

describe('viewers', () => {
  it("see that an identity check failed, not what the guest printed", async () => {
    const { redactText, HIDDEN } = await import('../../lib/auth/redact');
    const msg = 'child web-1: identity check failed: guest said: secret-token=abc; set -x output; hostname is "web-1x", expected "web-1"';
    expect(redactText(msg)).toBe(`child web-1: identity check failed: guest said: ${HIDDEN}`);
  });
});
