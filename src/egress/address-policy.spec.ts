import fc from 'fast-check';
import { BlockList } from 'node:net';
import { forbiddenRange, isForbiddenAddress, parseIPv4, parseIPv6 } from './address-policy';

// An independent oracle (RFC 6890 and friends, written out again rather than imported) for the
// IPv4 space: the property spec below compares the two on random addresses.
const FORBIDDEN_V4_CIDRS: [string, number][] = [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
];
const oracle = new BlockList();
for (const [base, bits] of FORBIDDEN_V4_CIDRS) oracle.addSubnet(base, bits, 'ipv4');

const v4 = (n: number) => [24, 16, 8, 0].map((shift) => (n >>> shift) & 0xff).join('.');
const hex = (n: number) => `${((n >>> 16) & 0xffff).toString(16)}:${(n & 0xffff).toString(16)}`;
const anyV4 = fc.integer({ min: 0, max: 0xffffffff });

describe('forbiddenRange', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.255.255.255', 'loopback'],
    ['10.0.0.1', 'private'],
    ['10.255.255.255', 'private'],
    ['172.16.0.0', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['169.254.169.254', 'link-local (cloud metadata)'],
    ['169.254.0.1', 'link-local (cloud metadata)'],
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'unspecified'],
    ['100.64.0.1', 'shared address space (CGNAT)'],
    ['100.127.255.255', 'shared address space (CGNAT)'],
    ['192.0.0.170', 'IETF protocol assignments'],
    ['198.18.0.1', 'benchmarking'],
    ['198.19.255.255', 'benchmarking'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['255.255.255.255', 'broadcast'],
    ['240.0.0.1', 'reserved'],
    ['::1', 'loopback'],
    ['::', 'unspecified'],
    ['fe80::1', 'link-local'],
    ['fe80::1%eth0', 'link-local'],
    ['febf:ffff::1', 'link-local'],
    ['fc00::1', 'unique-local'],
    ['fd12:3456:789a::1', 'unique-local'],
    ['fec0::1', 'site-local (deprecated)'],
    ['ff02::1', 'multicast'],
    ['100::1', 'discard-only'],
    ['2001:0:4136:e378:8000:63bf:3fff:fdd2', 'Teredo'],
    ['64:ff9b:1::a00:1', 'local-use NAT64'],
    ['::127.0.0.1', 'IPv4-compatible (deprecated)'],
    ['::7f00:1', 'IPv4-compatible (deprecated)'],
    ['::8.8.8.8', 'IPv4-compatible (deprecated)'],
    // IPv4 in IPv6 clothing is judged as the IPv4 address it carries.
    ['::ffff:127.0.0.1', 'loopback (IPv4-mapped 127.0.0.1)'],
    ['::ffff:7f00:1', 'loopback (IPv4-mapped 127.0.0.1)'],
    ['0:0:0:0:0:ffff:7f00:0001', 'loopback (IPv4-mapped 127.0.0.1)'],
    ['::FFFF:A9FE:A9FE', 'link-local (cloud metadata) (IPv4-mapped 169.254.169.254)'],
    ['::ffff:10.1.2.3', 'private (IPv4-mapped 10.1.2.3)'],
    ['::ffff:0:127.0.0.1', 'loopback (IPv4-translated 127.0.0.1)'],
    ['64:ff9b::127.0.0.1', 'loopback (NAT64 127.0.0.1)'],
    ['64:ff9b::a9fe:a9fe', 'link-local (cloud metadata) (NAT64 169.254.169.254)'],
    ['2002:7f00:1::1', 'loopback (6to4 127.0.0.1)'],
    ['2002:c0a8:0101::', 'private (6to4 192.168.1.1)'],
  ])('refuses %s (%s)', (address, label) => {
    expect(forbiddenRange(address)).toBe(label);
    expect(isForbiddenAddress(address)).toBe(true);
  });

  it.each([
    '8.8.8.8',
    '1.1.1.1',
    '93.184.215.14',
    // Just outside each range.
    '9.255.255.255',
    '11.0.0.0',
    '100.63.255.255',
    '100.128.0.0',
    '126.255.255.255',
    '128.0.0.0',
    '169.253.255.255',
    '169.255.0.0',
    '172.15.255.255',
    '172.32.0.0',
    '192.0.1.0',
    '192.167.255.255',
    '192.169.0.0',
    '198.17.255.255',
    '198.20.0.0',
    '223.255.255.255',
    // Documentation ranges are not routed at all, so nothing private can be reached through them.
    '203.0.113.10',
    '2606:4700:4700::1111',
    '2a00:1450:4001:80b::200e',
    'fbff:ffff::1',
    'fe7f::1',
    '::ffff:8.8.8.8',
    '64:ff9b::808:808',
    '2002:808:808::1',
  ])('allows %s', (address) => {
    expect(forbiddenRange(address)).toBeUndefined();
    expect(isForbiddenAddress(address)).toBe(false);
  });

  it.each(['', 'localhost', 'example.com', '1.2.3', '1.2.3.4.5', '256.0.0.1', '01.2.3.4', '::ffff:999.0.0.1', '1::2::3', '[::1]', '127.0.0.1:443', 'gggg::1'])(
    'refuses what is not an IP address: %j',
    (text) => {
      expect(forbiddenRange(text)).toBe('not an IP address');
    },
  );

  it('agrees with the RFC 6890 oracle on every IPv4 address, and on its mapped, translated, NAT64 and 6to4 forms', () => {
    fc.assert(
      fc.property(anyV4, (n) => {
        const expected = oracle.check(v4(n), 'ipv4');
        expect(isForbiddenAddress(v4(n))).toBe(expected);
        expect(isForbiddenAddress(`::ffff:${v4(n)}`)).toBe(expected);
        expect(isForbiddenAddress(`::ffff:${hex(n)}`)).toBe(expected);
        expect(isForbiddenAddress(`::ffff:0:${hex(n)}`)).toBe(expected);
        expect(isForbiddenAddress(`64:ff9b::${v4(n)}`)).toBe(expected);
        expect(isForbiddenAddress(`2002:${hex(n)}::1`)).toBe(expected);
      }),
      { numRuns: 2000 },
    );
  });

  it('refuses every address of the IPv6 non-public ranges, and allows global unicast outside them', () => {
    const group = fc.integer({ min: 0, max: 0xffff });
    const rest = fc.array(group, { minLength: 7, maxLength: 7 });
    const address = (first: number, others: number[]) => [first, ...others].map((g) => g.toString(16)).join(':');
    fc.assert(
      fc.property(fc.integer({ min: 0xfc00, max: 0xfdff }), rest, (first, others) => isForbiddenAddress(address(first, others))),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(fc.integer({ min: 0xfe80, max: 0xfeff }), rest, (first, others) => isForbiddenAddress(address(first, others))),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(fc.integer({ min: 0xff00, max: 0xffff }), rest, (first, others) => isForbiddenAddress(address(first, others))),
      { numRuns: 500 },
    );
    // 2000::/3 less Teredo (2001::/32) and 6to4 (2002::/16), which embed an address of their own.
    fc.assert(
      fc.property(fc.integer({ min: 0x2003, max: 0x3fff }), rest, (first, others) => !isForbiddenAddress(address(first, others))),
      { numRuns: 500 },
    );
  });
});

describe('parseIPv4 / parseIPv6', () => {
  it('read the same address in every spelling', () => {
    expect(parseIPv4('127.0.0.1')).toBe(0x7f000001);
    expect(parseIPv4('255.255.255.255')).toBe(0xffffffff);
    expect(parseIPv6('::ffff:127.0.0.1')).toBe(parseIPv6('::ffff:7f00:1'));
    expect(parseIPv6('0:0:0:0:0:ffff:7f00:1')).toBe(0xffff7f000001n);
    expect(parseIPv6('1:2:3:4:5:6:7:8')).toBe(0x00010002000300040005000600070008n);
    expect(parseIPv6('1::')).toBe(1n << 112n);
    expect(parseIPv6('::')).toBe(0n);
    expect(parseIPv6('fe80::1%eth0')).toBe(parseIPv6('fe80::1'));
  });

  it('round-trip every IPv4 address through its IPv6 spellings', () => {
    fc.assert(
      fc.property(anyV4, (n) => {
        expect(parseIPv4(v4(n))).toBe(n);
        expect(parseIPv6(`::ffff:${v4(n)}`)).toBe(0xffff00000000n + BigInt(n));
        expect(parseIPv6(`::ffff:${hex(n)}`)).toBe(0xffff00000000n + BigInt(n));
      }),
    );
  });
});
