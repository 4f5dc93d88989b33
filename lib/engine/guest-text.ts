// Text a guest sent, quoted in the engine's own messages (identity errors, warm-up failures): these go
// to the database, the task log, every browser on the event stream and the CLI's one-line errors. So
// it is cut to a bound and its control characters (terminal escapes, newlines, bidi overrides) are
// shown as \uXXXX: a hostile guest can neither flood them with megabytes nor drive a terminal.
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

export function guestText(s: string, max = 200): string {
  const cut = s.length > max ? `${s.slice(0, max)}… (${s.length - max} more characters)` : s;
  return cut.replace(CONTROL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** At most `max` items of a list the guest chose the length of, then how many more. */
export function guestList(items: string[], max = 4): string {
  const shown = items.slice(0, max).map((x) => guestText(x, 60));
  return items.length > max ? `${shown.join(', ')} and ${items.length - max} more` : shown.join(', ');
}
