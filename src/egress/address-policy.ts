// Which IP addresses an outbound request may not reach when private destinations are not allowed
// (EGRESS_ALLOW_PRIVATE=false): everything that is not a public unicast address, so a configured
// base URL cannot make the service call its own host, its network or the cloud metadata endpoint.
// Pure: no I/O, no Nest.
import { isIPv4, isIPv6 } from 'node:net';

type Range4 = readonly [base: string, bits: number, label: string];

// Order matters only for the label: the first match names the range.
const IPV4_RANGES: readonly Range4[] = [
  ['0.0.0.0', 8, 'unspecified'],
  ['10.0.0.0', 8, 'private'],
  ['100.64.0.0', 10, 'shared address space (CGNAT)'],
  ['127.0.0.0', 8, 'loopback'],
  ['169.254.0.0', 16, 'link-local (cloud metadata)'],
  ['172.16.0.0', 12, 'private'],
  // Includes 192.0.0.170/171, the NAT64 discovery addresses.
  ['192.0.0.0', 24, 'IETF protocol assignments'],
  ['192.168.0.0', 16, 'private'],
  // Not globally routed; some networks use it internally.
  ['198.18.0.0', 15, 'benchmarking'],
  ['224.0.0.0', 4, 'multicast'],
  ['255.255.255.255', 32, 'broadcast'],
  ['240.0.0.0', 4, 'reserved'],
];

type Range6 = readonly [base: string, bits: number, label: string] | readonly [base: string, bits: number, label: string, embeddedV4: (value: bigint) => number];

const low32 = (value: bigint) => Number(value & 0xffffffffn);

const IPV6_RANGES: readonly Range6[] = [
  ['::', 128, 'unspecified'],
  ['::1', 128, 'loopback'],
  // IPv4 written as IPv6: judged as the IPv4 address they carry.
  ['::ffff:0:0', 96, 'IPv4-mapped', low32],
  ['::ffff:0:0:0', 96, 'IPv4-translated', low32],
  ['64:ff9b::', 96, 'NAT64', low32],
  ['2002::', 16, '6to4', (value) => Number((value >> 80n) & 0xffffffffn)],
  // Deprecated forms that no public service uses; refused whole rather than decoded.
  ['::', 96, 'IPv4-compatible (deprecated)'],
  ['64:ff9b:1::', 48, 'local-use NAT64'],
  ['100::', 64, 'discard-only'],
  ['2001::', 32, 'Teredo'],
  ['fc00::', 7, 'unique-local'],
  ['fe80::', 10, 'link-local'],
  ['fec0::', 10, 'site-local (deprecated)'],
  ['ff00::', 8, 'multicast'],
];

/** The dotted-quad IPv4 address as an unsigned 32-bit number, or undefined when it is not one. */
export function parseIPv4(address: string): number | undefined {
  if (!isIPv4(address)) return undefined;
  return address.split('.').reduce((value, part) => value * 256 + Number(part), 0);
}

/** The IPv6 address (zone id ignored, dotted IPv4 tail allowed) as a 128-bit number, or undefined. */
export function parseIPv6(address: string): bigint | undefined {
  const withoutZone = address.split('%')[0];
  if (!isIPv6(withoutZone)) return undefined;
  let text = withoutZone;
  const dotted = text.lastIndexOf('.') >= 0 ? text.slice(text.lastIndexOf(':') + 1) : undefined;
  if (dotted !== undefined) {
    const v4 = parseIPv4(dotted);
    if (v4 === undefined) return undefined;
    text = `${text.slice(0, text.length - dotted.length)}${(v4 >>> 16).toString(16)}:${(v4 & 0xffff).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const groups = (part: string | undefined) => (part ? part.split(':') : []);
  const left = groups(head);
  const right = groups(tail);
  const all = tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  if (all.length !== 8) return undefined;
  return all.reduce((value, group) => (value << 16n) | BigInt(parseInt(group, 16)), 0n);
}

function inRange4(value: number, base: string, bits: number): boolean {
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  return (value & mask) >>> 0 === parseIPv4(base);
}

function inRange6(value: bigint, base: string, bits: number): boolean {
  const shift = BigInt(128 - bits);
  return value >> shift === parseIPv6(base)! >> shift;
}

function forbiddenIPv4(value: number): string | undefined {
  return IPV4_RANGES.find(([base, bits]) => inRange4(value, base, bits))?.[2];
}

function formatIPv4(value: number): string {
  return [24, 16, 8, 0].map((shift) => (value >>> shift) & 0xff).join('.');
}

/**
 * Why `address` may not be connected to when private destinations are not allowed ("loopback",
 * "link-local (cloud metadata)", "loopback (IPv4-mapped 127.0.0.1)", ...), or undefined for a
 * public unicast address. Anything that is not an IP address is refused: the caller checks what
 * it is about to connect to, and an unreadable address is not known to be public.
 */
export function forbiddenRange(address: string): string | undefined {
  const v4 = parseIPv4(address);
  if (v4 !== undefined) return forbiddenIPv4(v4);
  const v6 = parseIPv6(address);
  if (v6 === undefined) return 'not an IP address';
  for (const [base, bits, label, embeddedV4] of IPV6_RANGES) {
    if (!inRange6(v6, base, bits)) continue;
    if (!embeddedV4) return label;
    const inner = embeddedV4(v6);
    const innerRange = forbiddenIPv4(inner);
    return innerRange === undefined ? undefined : `${innerRange} (${label} ${formatIPv4(inner)})`;
  }
  return undefined;
}

/** True when `address` is not a public unicast address (see forbiddenRange). */
export function isForbiddenAddress(address: string): boolean {
  return forbiddenRange(address) !== undefined;
}
