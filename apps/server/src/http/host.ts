import { isIP } from 'node:net';

/**
 * The host name of a `Host` header (lower case, without port or IPv6 brackets), or null when
 * the header is malformed. Pure.
 */
export function hostName(header: string): string | null {
  const value = header.trim().toLowerCase();
  if (value.startsWith('[')) {
    const end = value.indexOf(']');
    if (end < 0) return null;
    const rest = value.slice(end + 1);
    if (rest !== '' && !/^:\d{1,5}$/.test(rest)) return null;
    return value.slice(1, end);
  }
  const match = /^([a-z0-9.-]{1,253})(:\d{1,5})?$/.exec(value);
  return match ? match[1].replace(/\.$/, '') : null;
}

/**
 * True when a request's `Host` names this server: an IP literal, `localhost` (and
 * `*.localhost`), or one of `allowed` (exact, or `*.example.org` for its subdomains).
 * Anything else is another site's name pointed at this address (DNS rebinding). A request
 * without `Host` (HTTP/1.0) is accepted: browsers always send one. Pure.
 */
export function hostAllowed(header: string | undefined, allowed: readonly string[]): boolean {
  if (header === undefined) return true;
  const name = hostName(header);
  if (name === null) return false;
  if (isIP(name) !== 0) return true;
  if (name === 'localhost' || name.endsWith('.localhost')) return true;
  return allowed.some((entry) => {
    const pattern = entry.toLowerCase().replace(/\.$/, '');
    return pattern.startsWith('*.') ? name.endsWith(pattern.slice(1)) && name.length > pattern.length - 1 : name === pattern;
  });
}
