// Where to go after a log-in: only a path on this console. Browsers treat "\" like "/" and drop tabs
// and newlines, so "/\evil.example" and "/%09/evil.example" would leave the site.
export function safeNextPath(next: string | null | undefined): string {
  if (!next) return '/';
  let decoded: string;
  try {
    decoded = decodeURIComponent(next);
  } catch {
    return '/';
  }
  for (const s of [next, decoded]) {
    if (!s.startsWith('/') || /[\\\x00-\x20\x7f]/.test(s) || s.startsWith('//')) return '/';
  }
  // resolved against a dummy origin it must stay there
  const u = new URL(next, 'http://console.invalid');
  return u.origin === 'http://console.invalid' ? `${u.pathname}${u.search}${u.hash}` : '/';
}
