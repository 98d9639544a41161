/**
 * The forwarding allow-list (src/forward/acl.ts): IPv4/IPv6 CIDR matching, IPv4-mapped IPv6
 * clients, host bits in rules, unreadable client strings, and the SPEC default list.
 */
import { BlockList } from 'node:net';
import test from 'ava';
import fc from 'fast-check';
import { AllowList } from '../../../src/forward/acl.js';

/** SPEC §5 default forward.allowFrom: loopback plus RFC 1918/4193 ranges. */
const DEFAULT_ALLOW = ['127.0.0.0/8', '::1/128', '10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'];

const DEFAULT_CASES: ReadonlyArray<readonly [string, boolean]> = [
  ['127.0.0.1', true],
  ['127.255.255.255', true],
  ['126.255.255.255', false],
  ['128.0.0.0', false],
  ['9.255.255.255', false],
  ['10.0.0.0', true],
  ['10.255.255.255', true],
  ['11.0.0.0', false],
  ['172.15.255.255', false],
  ['172.16.0.0', true],
  ['172.20.1.2', true],
  ['172.31.255.255', true],
  ['172.32.0.0', false],
  ['192.167.255.255', false],
  ['192.168.0.0', true],
  ['192.168.255.255', true],
  ['192.169.0.0', false],
  ['8.8.8.8', false],
  ['0.0.0.0', false],
  ['255.255.255.255', false],
  ['::1', true],
  ['0:0:0:0:0:0:0:1', true],
  ['::', false],
  ['::2', false],
  ['fbff::', false],
  ['fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', false],
  ['fc00::', true],
  ['fd12:3456::1', true],
  ['FD12:3456::1', true],
  ['fdff::', true],
  ['fdff:ffff::', true],
  ['fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', true],
  ['fe00::', false],
  ['fe80::1', false],
  ['2001:db8::1', false],
  // dual-stack sockets report IPv4 clients as IPv4-mapped IPv6 addresses
  ['::ffff:127.0.0.1', true],
  ['::ffff:7f00:1', true],
  ['::FFFF:10.1.2.3', true],
  ['::ffff:172.15.255.255', false],
  ['::ffff:172.16.0.0', true],
  ['::ffff:172.31.255.255', true],
  ['::ffff:172.32.0.0', false],
  ['::ffff:192.168.1.1', true],
  ['::ffff:8.8.8.8', false],
  // IPv4-compatible (deprecated, not mapped) is just an IPv6 address
  ['::10.1.2.3', false],
  ['::127.0.0.1', false],
];

const defaults = new AllowList(DEFAULT_ALLOW);
for (const [client, expected] of DEFAULT_CASES) {
  test(`default allow-list: ${client} → ${expected}`, (t) => {
    t.is(defaults.allows(client), expected);
  });
}

const RULE_CASES: ReadonlyArray<readonly [string, readonly string[], ReadonlyArray<readonly [string, boolean]>]> = [
  [
    'an empty list allows nothing',
    [],
    [
      ['127.0.0.1', false],
      ['::1', false],
      ['::ffff:127.0.0.1', false],
    ],
  ],
  [
    'IPv4 /0 allows every IPv4 client (mapped too) and no IPv6 one',
    ['0.0.0.0/0'],
    [
      ['0.0.0.0', true],
      ['1.2.3.4', true],
      ['255.255.255.255', true],
      ['::ffff:1.2.3.4', true],
      ['::1', false],
      ['2001:db8::1', false],
      ['::', false],
    ],
  ],
  [
    'IPv6 /0 allows every IPv6 client but not IPv4 or IPv4-mapped ones',
    ['::/0'],
    [
      ['::', true],
      ['::1', true],
      ['2001:db8::1', true],
      ['ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', true],
      ['1.2.3.4', false],
      ['::ffff:1.2.3.4', false],
    ],
  ],
  [
    'IPv4 /32 is one address',
    ['192.0.2.1/32'],
    [
      ['192.0.2.1', true],
      ['192.0.2.0', false],
      ['192.0.2.2', false],
      ['::ffff:192.0.2.1', true],
      ['::ffff:192.0.2.2', false],
    ],
  ],
  [
    'IPv6 /128 is one address',
    ['2001:db8::1/128'],
    [
      ['2001:db8::1', true],
      ['2001:DB8:0:0:0:0:0:1', true],
      ['2001:db8::', false],
      ['2001:db8::2', false],
      ['2001:db8::1:1', false],
    ],
  ],
  [
    '/12 (odd prefix)',
    ['172.16.0.0/12'],
    [
      ['172.16.0.0', true],
      ['172.31.255.255', true],
      ['172.15.255.255', false],
      ['172.32.0.0', false],
    ],
  ],
  [
    '/7 IPv4',
    ['10.0.0.0/7'],
    [
      ['9.255.255.255', false],
      ['10.0.0.0', true],
      ['11.255.255.255', true],
      ['12.0.0.0', false],
    ],
  ],
  [
    '/7 IPv6',
    ['fc00::/7'],
    [
      ['fbff:ffff::', false],
      ['fc00::', true],
      ['fdff:ffff::1', true],
      ['fe00::', false],
    ],
  ],
  [
    '/1 IPv4',
    ['128.0.0.0/1'],
    [
      ['127.255.255.255', false],
      ['128.0.0.0', true],
      ['255.0.0.1', true],
    ],
  ],
  [
    '/31 IPv4',
    ['192.0.2.4/31'],
    [
      ['192.0.2.3', false],
      ['192.0.2.4', true],
      ['192.0.2.5', true],
      ['192.0.2.6', false],
    ],
  ],
  [
    '/10 IPv6',
    ['fe80::/10'],
    [
      ['fe7f:ffff::', false],
      ['fe80::1', true],
      ['febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff', true],
      ['fec0::', false],
    ],
  ],
  [
    '/127 IPv6',
    ['2001:db8::2/127'],
    [
      ['2001:db8::1', false],
      ['2001:db8::2', true],
      ['2001:db8::3', true],
      ['2001:db8::4', false],
    ],
  ],
  [
    '/52 IPv6 with host bits set in the rule',
    ['2001:db8:abcd:12ff::1/52'],
    [
      ['2001:db8:abcd:1000::', true],
      ['2001:db8:abcd:1fff:ffff:ffff:ffff:ffff', true],
      ['2001:db8:abcd:fff::', false],
      ['2001:db8:abcd:2000::', false],
    ],
  ],
  [
    'host bits set in an IPv4 rule are ignored',
    ['192.168.1.77/24'],
    [
      ['192.168.1.0', true],
      ['192.168.1.255', true],
      ['192.168.0.255', false],
      ['192.168.2.0', false],
    ],
  ],
  [
    'host bits set in a /12 rule are ignored',
    ['172.31.255.255/12'],
    [
      ['172.16.0.0', true],
      ['172.15.255.255', false],
    ],
  ],
  [
    '::ffff:0:0/96 is every IPv4 address',
    ['::ffff:0:0/96'],
    [
      ['1.2.3.4', true],
      ['::ffff:1.2.3.4', true],
      ['255.255.255.255', true],
      ['::1', false],
      ['2001:db8::1', false],
      ['::fffe:1.2.3.4', false],
    ],
  ],
  [
    '::ffff:10.0.0.0/104 is 10.0.0.0/8',
    ['::ffff:10.0.0.0/104'],
    [
      ['10.1.2.3', true],
      ['::ffff:10.1.2.3', true],
      ['11.0.0.0', false],
      ['9.255.255.255', false],
    ],
  ],
  [
    '::ffff:a01:203/128 (hex form) is 10.1.2.3/32',
    ['::ffff:a01:203/128'],
    [
      ['10.1.2.3', true],
      ['::ffff:10.1.2.3', true],
      ['10.1.2.4', false],
    ],
  ],
  [
    '::ffff:172.16.0.0/108 is 172.16.0.0/12',
    ['::ffff:172.16.0.0/108'],
    [
      ['172.31.255.255', true],
      ['172.32.0.0', false],
    ],
  ],
  // Mapped clients match exactly the IPv4 rules, so a wider IPv6 rule does not cover them.
  [
    '::ffff:0:0/95 is an IPv6 rule',
    ['::ffff:0:0/95'],
    [
      ['::fffe:1.2.3.4', true],
      ['::fffe:0:0', true],
      ['::ffff:1.2.3.4', false],
      ['1.2.3.4', false],
    ],
  ],
  [
    'IPv4 and IPv6 rules together',
    ['10.0.0.0/8', '2001:db8::/32'],
    [
      ['10.9.9.9', true],
      ['::ffff:10.9.9.9', true],
      ['2001:db8:ffff::1', true],
      ['2001:db9::1', false],
      ['11.0.0.1', false],
    ],
  ],
];

for (const [what, rules, clients] of RULE_CASES) {
  test(`AllowList ${JSON.stringify(rules)}: ${what}`, (t) => {
    const acl = new AllowList(rules);
    t.deepEqual(
      clients.map(([c]) => [c, acl.allows(c)]),
      clients.map(([c, expected]) => [c, expected]),
    );
  });
}

test('one AllowList asked about many distinct clients (more than any memo holds) keeps answering correctly', (t) => {
  const acl = new AllowList(['10.0.0.0/8', '172.16.0.0/12']);
  const wrong: string[] = [];
  for (let round = 0; round < 2; round++) {
    for (let i = 0; i < 12_000; i++) {
      // 10.0.x.y (allowed) and 11.0.x.y (not), interleaved; then the same addresses again
      const inside = `10.0.${i >> 8}.${i & 0xff}`;
      const outside = `11.0.${i >> 8}.${i & 0xff}`;
      if (!acl.allows(inside)) wrong.push(inside);
      if (acl.allows(outside)) wrong.push(outside);
      if (acl.allows(`::ffff:${outside}`)) wrong.push(`::ffff:${outside}`);
    }
  }
  t.deepEqual(wrong, []);
  t.true(acl.allows('172.16.0.1'));
  t.false(acl.allows('172.32.0.1'));
});

test('AllowList keeps the configured CIDRs as given', (t) => {
  t.deepEqual(new AllowList(DEFAULT_ALLOW).cidrs, DEFAULT_ALLOW);
});

const GARBAGE = [
  '',
  ' ',
  'localhost',
  'undefined',
  '10.0.0',
  '10.0.0.256',
  '010.0.0.1',
  '10.0.0.1 ',
  ' 10.0.0.1',
  '10.0.0.1/8',
  '10.0.0.1:53',
  '::g',
  ':::1',
  '1:2:3:4::5:6:7:8',
  '1:2:3:4:5:6:7:8:9',
  '::ffff:10.1.2.3.4',
  '::ffff:10.1.2',
  'fe80::1%eth0',
  'fd00::1%1',
  '[::1]',
  '[::1]:53',
  '::1/128',
];

for (const client of GARBAGE) {
  test(`an unreadable client address ${JSON.stringify(client)} is not allowed and does not throw`, (t) => {
    const everything = new AllowList(['0.0.0.0/0', '::/0']);
    t.false(everything.allows(client));
  });
}

test('property: allows never throws on arbitrary address-like strings', (t) => {
  const acl = new AllowList([...DEFAULT_ALLOW, '0.0.0.0/0', '::/0']);
  fc.assert(
    fc.property(fc.string({ unit: fc.constantFrom(...'0123456789abcdefABCDEF:.%/[] fF'.split('')), maxLength: 45 }), (text) => {
      const r = acl.allows(text);
      if (typeof r !== 'boolean') throw new Error('not a boolean');
    }),
    { numRuns: 20_000 },
  );
  t.pass();
});

for (const cidr of ['garbage', '10.0.0.0', '10.0.0.0/x', '10.0.0.0/8.5', 'fe80::1%eth0/64', '10.0.0/8', '::g/64', '/8']) {
  test(`the constructor refuses ${JSON.stringify(cidr)} with a RangeError`, (t) => {
    t.throws(() => new AllowList([cidr]), { instanceOf: RangeError });
  });
}

// The schema (isCidr) keeps these out of config, but the class states that an entry that does not
// parse is refused with a RangeError. Accepting them fails open: "10.0.0.0/" reads as /0 and
// "10.0.0.0/-1" matches every IPv4 client, "/33" and "/129" act as /32 and /128.
test('the constructor refuses out-of-range and non-decimal prefixes with a RangeError', (t) => {
  const accepted: string[] = [];
  for (const cidr of ['10.0.0.0/', '10.0.0.0/33', '10.0.0.0/-1', '::/129', '10.0.0.0/ 8', '10.0.0.0/0x8', '10.0.0.0/1e1']) {
    try {
      const acl = new AllowList([cidr]);
      accepted.push(`${cidr} (allows 8.8.8.8: ${acl.allows('8.8.8.8')})`);
    } catch (e) {
      if (!(e instanceof RangeError)) accepted.push(`${cidr} threw ${String(e)}`);
    }
  }
  t.deepEqual(accepted, []);
});

// ---------------------------------------------------------------------------------------------
// Property: agreement with node:net BlockList (an independent implementation)
// ---------------------------------------------------------------------------------------------

function v4ToInt(text: string): bigint {
  return text.split('.').reduce((n, p) => (n << 8n) | BigInt(Number(p)), 0n);
}
function intToV4(n: bigint): string {
  return [24n, 16n, 8n, 0n].map((s) => String((n >> s) & 0xffn)).join('.');
}
function v6ToInt(text: string): bigint {
  // URL normalizes any valid form (embedded IPv4, '::') to RFC 5952 text; expand that.
  const canonical = new URL(`http://[${text}]/`).hostname.slice(1, -1);
  const [head, tail] = canonical.includes('::') ? canonical.split('::') : [canonical, undefined];
  const h = head === '' ? [] : head.split(':');
  const tl = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? h : [...h, ...new Array<string>(8 - h.length - tl.length).fill('0'), ...tl];
  return groups.reduce((n, g) => (n << 16n) | BigInt(parseInt(g, 16)), 0n);
}
function intToV6(n: bigint): string {
  const groups: string[] = [];
  for (let s = 112n; s >= 0n; s -= 16n) groups.push(((n >> s) & 0xffffn).toString(16));
  return groups.join(':');
}
const isMapped = (n: bigint): boolean => n >> 32n === 0xffffn;

test('property: IPv4 rules agree with BlockList for IPv4 and IPv4-mapped clients, host bits and near misses included', (t) => {
  fc.assert(
    fc.property(
      fc.ipV4(),
      fc.integer({ min: 0, max: 32 }),
      fc.oneof(fc.ipV4(), fc.integer({ min: 0, max: 31 })),
      fc.boolean(),
      (rule, prefix, clientOrBit, mapped) => {
        // a client from anywhere, or the rule's address with one bit flipped (inside or outside the prefix)
        const clientInt = typeof clientOrBit === 'string' ? v4ToInt(clientOrBit) : v4ToInt(rule) ^ (1n << BigInt(clientOrBit));
        const client = intToV4(clientInt);
        const oracle = new BlockList();
        oracle.addSubnet(rule, prefix, 'ipv4');
        const expected = oracle.check(client, 'ipv4');
        const acl = new AllowList([`${rule}/${prefix}`]);
        const text = mapped ? `::ffff:${client}` : client;
        if (acl.allows(text) !== expected) throw new Error(`${rule}/${prefix} vs ${text}: expected ${expected}`);
        // the same rule written as an IPv4-mapped IPv6 CIDR
        const asV6 = new AllowList([`::ffff:${rule}/${prefix + 96}`]);
        if (asV6.allows(text) !== expected) throw new Error(`::ffff:${rule}/${prefix + 96} vs ${text}: expected ${expected}`);
      },
    ),
    { numRuns: 5000 },
  );
  t.pass();
});

test('property: IPv6 rules agree with BlockList for non-mapped IPv6 clients, host bits and near misses included', (t) => {
  fc.assert(
    fc.property(
      fc.ipV6(),
      fc.integer({ min: 0, max: 128 }),
      fc.oneof(fc.ipV6(), fc.integer({ min: 0, max: 127 })),
      (rule, prefix, clientOrBit) => {
        const ruleInt = v6ToInt(rule);
        const clientInt = typeof clientOrBit === 'string' ? v6ToInt(clientOrBit) : ruleInt ^ (1n << BigInt(clientOrBit));
        if (isMapped(clientInt) || (isMapped(ruleInt) && prefix >= 96)) return;
        const client = typeof clientOrBit === 'string' ? clientOrBit : intToV6(clientInt);
        const oracle = new BlockList();
        oracle.addSubnet(intToV6(ruleInt), prefix, 'ipv6');
        const expected = oracle.check(intToV6(clientInt), 'ipv6');
        if (new AllowList([`${rule}/${prefix}`]).allows(client) !== expected)
          throw new Error(`${rule}/${prefix} vs ${client}: expected ${expected}`);
      },
    ),
    { numRuns: 5000 },
  );
  t.pass();
});
