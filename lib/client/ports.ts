/** "80, 8080 22" -> [80, 8080, 22]; anything not a number is kept as typed so the shared schema names it. */
export function parsePorts(s: string): unknown[] {
  return s
    .split(/[\s,]+/)
    .filter(Boolean)
    .map((x) => (/^\d+$/.test(x) ? Number(x) : x));
}
