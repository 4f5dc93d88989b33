// What the CLI writes to a person's terminal. Answers from the console can quote a guest (identity
// errors, warm-up output, labels another user typed): their control characters are shown as \uXXXX
// instead of being obeyed, so nobody's terminal is driven by a guest (title, clipboard through OSC 52,
// cursor moves that hide a line, bidi overrides). --json prints the same JSON a program would parse,
// with the controls JSON.stringify leaves raw (DEL, C1, bidi) written as \uXXXX escapes.

/** C0 and C1 controls but newline and tab, DEL, and the bidirectional overrides. */
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
const shown = (c: string) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;

/** A message or a table: every control character but newline and tab made visible. */
export function plain(s: string): string {
  return s.replace(CONTROL, shown);
}

/**
 * A guest command's own output (`exec`) going to a terminal: colours (SGR, `ESC [ … m`), carriage
 * return and backspace pass, as they would over ssh; any other escape or control is made visible.
 * Piped or redirected output is written byte for byte (the caller checks isTTY).
 */
export function forTerminal(s: string): string {
  return s.replace(/\u001b\[[0-9;:]*m|[\r\b]|[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, (m) => (m.length > 1 || m === '\r' || m === '\b' ? m : shown(m)));
}

/** JSON.stringify, with DEL, C1 controls and bidi overrides escaped too: the same value when parsed. */
export function json(v: unknown): string {
  return JSON.stringify(v).replace(/[\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, shown);
}
