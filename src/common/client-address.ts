import { isIP } from 'node:net';

/** One IPv6 /64 is one client: a host usually holds the whole of it. */
export const IPV6_CLIENT_PREFIX_HEXTETS = 4;

/**
 * The key a client address counts under in the per-address budgets: an IPv4 address as it is,
 * an IPv4-mapped IPv6 address as its IPv4, `::1` as itself, any other IPv6 address by its /64
 * (`2001:db8:1:2::/64`). Anything else (no address) is returned unchanged.
 */
export function clientAddressKey(ip: string): string {
  const bare = ip.split('%')[0];
  const version = isIP(bare);
  if (version === 4) return bare;
  if (version !== 6) return ip;
  const hextets = ipv6Hextets(bare.toLowerCase());
  if (hextets.slice(0, 7).every((h) => h === 0) && hextets[7] === 1) return '::1';
  if (hextets.slice(0, 5).every((h) => h === 0) && hextets[5] === 0xffff) {
    return [hextets[6] >> 8, hextets[6] & 0xff, hextets[7] >> 8, hextets[7] & 0xff].join('.');
  }
  return `${hextets
    .slice(0, IPV6_CLIENT_PREFIX_HEXTETS)
    .map((h) => h.toString(16))
    .join(':')}::/${IPV6_CLIENT_PREFIX_HEXTETS * 16}`;
}

/** The eight 16-bit groups of a valid IPv6 address (net.isIP said so), a dotted IPv4 tail included. */
function ipv6Hextets(address: string): number[] {
  let text = address;
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number);
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split('::');
  const left = head ? head.split(':') : [];
  const right = tail === undefined ? [] : tail ? tail.split(':') : [];
  const fill = tail === undefined ? [] : new Array<string>(8 - left.length - right.length).fill('0');
  return [...left, ...fill, ...right].map((group) => parseInt(group, 16));
}
