/**
 * The answer core's class, zone-transfer and CHAOS rows (issue 12), and when it reads where the
 * client is: every combination of class, name and type is checked against the row it must hit.
 */
import test from 'ava';
import { answer } from '../../../src/answer/answer.js';
import { RRClass, RRType, type AnswerContext, type ClientLocality, type Decision } from '../../../src/answer/types.js';
import type { GeoLocation } from '../../../src/registry/types.js';
import { ask, context, summarize, type CtxOverrides } from './fixture.js';

const ask3 = (name: string, type: number, klass: number, o: CtxOverrides = {}): Decision =>
  answer({ name, type, class: klass }, context(o));

const REFUSED = { kind: 'refused', rcode: 5, aa: false, answers: [], authority: [], additional: [], clusters: [], ecs: 0 };

const NAMES = [
  'productpage.bookinfo.global', // local service
  'reviews.bookinfo.global', // remote service
  'nosuch.bookinfo.global', // NXDOMAIN in IN
  'global', // apex
  'example.com', // outside every zone
  'version.bind', // a CHAOS name, asked in the wrong class
];
const TYPES = [RRType.A, RRType.AAAA, RRType.TXT, RRType.SOA, RRType.ANY, 65];

for (const klass of [RRClass.CH, RRClass.HS, RRClass.NONE, 2 /* CSNET */, 77, 65280]) {
  test(`class ${klass}: REFUSED (no AA, no records) for every name and type, never outOfZone`, (t) => {
    for (const name of NAMES) {
      for (const type of TYPES) {
        // CHAOS names in class CH are the one exception (below); dns.chaos is unset here anyway.
        t.deepEqual(summarize(ask3(name, type, klass)), REFUSED, `${name} type ${type}`);
      }
    }
  });
}

test('QCLASS ANY (255) in a zone gets exactly the IN decision (BIND matches ANY to its IN view)', (t) => {
  for (const name of NAMES.slice(0, 4)) {
    for (const type of TYPES) {
      t.deepEqual(summarize(ask3(name, type, RRClass.ANY)), summarize(ask3(name, type, RRClass.IN)), `${name} type ${type}`);
    }
  }
  t.is(ask3('productpage.bookinfo.global', RRType.A, RRClass.ANY).answers.length, 1);
});

test('QCLASS ANY outside the zones is REFUSED, never outOfZone (only class IN is forwarded)', (t) => {
  for (const type of TYPES) t.deepEqual(summarize(ask3('example.com', type, RRClass.ANY)), REFUSED);
  t.is(ask3('example.com', RRType.A, RRClass.IN).kind, 'outOfZone');
});

for (const type of [251, 252]) {
  test(`zone transfer (type ${type}) is REFUSED in the zone, outside it, and before the source synced`, (t) => {
    for (const name of NAMES) {
      t.deepEqual(summarize(ask(name, type)), REFUSED, name);
      t.deepEqual(summarize(ask(name, type, { sourceReady: false })), REFUSED, `${name} before sync`);
    }
    // The apex SOA is still answered: only the transfer is refused.
    t.is(ask('global', 'SOA').rcode, 0);
  });
}

const CHAOS = { version: 'gsdns 9.9.9', id: 'gsdns-7f9c' };

for (const [name, which] of [
  ['version.bind', 'version'],
  ['version.server', 'version'],
  ['id.server', 'id'],
  ['hostname.bind', 'id'],
  ['VERSION.BIND.', 'version'],
] as const) {
  test(`CHAOS ${name}: TXT CH from dns.chaos.${which} for TXT and ANY, REFUSED for other types or when unset`, (t) => {
    for (const type of [RRType.TXT, RRType.ANY]) {
      const d = ask3(name, type, RRClass.CH, { options: { chaos: CHAOS } });
      const owner = name.toLowerCase().replace(/\.$/, '');
      t.deepEqual(summarize(d), {
        kind: 'chaos',
        rcode: 0,
        aa: true,
        answers: [`${owner} 0 CH TXT "${CHAOS[which]}"`],
        authority: [],
        additional: [],
        clusters: [],
        ecs: 0,
      });
      t.deepEqual(summarize(ask3(name, type, RRClass.CH)), REFUSED, 'dns.chaos unset (the default): REFUSED');
      t.deepEqual(summarize(ask3(name, type, RRClass.CH, { options: { chaos: { version: null, id: null } } })), REFUSED, 'null: REFUSED');
      // The other key alone does not answer this name.
      const other = which === 'version' ? { version: null, id: CHAOS.id } : { version: CHAOS.version, id: null };
      t.deepEqual(summarize(ask3(name, type, RRClass.CH, { options: { chaos: other } })), REFUSED);
      // In class IN the name is just a name outside the zones (forwarded for allowed clients).
      t.is(ask3(name, type, RRClass.IN, { options: { chaos: CHAOS } }).kind, 'outOfZone');
    }
    for (const type of [RRType.A, RRType.AAAA, RRType.SOA, RRType.NS, 252]) {
      t.deepEqual(summarize(ask3(name, type, RRClass.CH, { options: { chaos: CHAOS } })), REFUSED, `type ${type}`);
    }
  });
}

test('CHAOS: other CH names (authors.bind, a zone name, anything) are REFUSED even with dns.chaos set', (t) => {
  for (const name of ['authors.bind', 'bind', 'version', 'x.version.bind', 'global', 'productpage.bookinfo.global', 'example.com']) {
    t.deepEqual(summarize(ask3(name, RRType.TXT, RRClass.CH, { options: { chaos: CHAOS } })), REFUSED, name);
  }
});

test('explanations say why: class, transfer and CHAOS steps', (t) => {
  t.regex(ask3('productpage.bookinfo.global', RRType.A, RRClass.CH).explanation.steps.join('\n'), /REFUSED, never forwarded/);
  t.regex(ask3('version.bind', RRType.TXT, RRClass.CH).explanation.steps.join('\n'), /dns\.chaos\.version is not set/);
  t.regex(ask('global', 252).explanation.steps.join('\n'), /zone transfer/);
});

// ---- when the core reads the client's location --------------------------------------------------

/** A client whose locality fields count their reads, like an ECS client placed lazily. */
function countingClient(base: ClientLocality): { client: ClientLocality; reads: () => number } {
  let n = 0;
  const client: ClientLocality = {
    get region(): string | undefined {
      n++;
      return base.region;
    },
    get zone(): string | undefined {
      n++;
      return base.zone;
    },
    get location(): GeoLocation | undefined {
      n++;
      return base.location;
    },
    ecsSourcePrefix: 24,
  };
  return { client, reads: () => n };
}

const withClient = (client: ClientLocality): AnswerContext => context({ client });

test('the core never reads the client locality for names outside the zones, refused classes, transfers, local or negative answers', (t) => {
  const questions: Array<[string, number, number]> = [
    ['example.com', RRType.A, RRClass.IN],
    ['example.com', RRType.A, RRClass.ANY],
    ['productpage.bookinfo.global', RRType.A, RRClass.CH],
    ['global', 252, RRClass.IN],
    ['productpage.bookinfo.global', RRType.A, RRClass.IN], // local
    ['details.bookinfo.global', RRType.A, RRClass.IN], // local headless
    ['nosuch.bookinfo.global', RRType.A, RRClass.IN], // NXDOMAIN
    ['reviews.bookinfo.global', RRType.TXT, RRClass.IN], // NODATA
    ['bookinfo.global', RRType.A, RRClass.IN], // empty non-terminal
    ['global', RRType.SOA, RRClass.IN], // apex
  ];
  for (const [name, type, klass] of questions) {
    const { client, reads } = countingClient({ region: 'eu-west-1', location: { lat: 51.5, lon: -0.1 } });
    answer({ name, type, class: klass }, withClient(client), { explain: false });
    t.is(reads(), 0, `${name} class ${klass} type ${type}`);
  }
});

test('ranking remote clusters reads the client locality, and the ECS scope comes from the plain field', (t) => {
  const { client, reads } = countingClient({ region: 'us-east-1' });
  const d = answer({ name: 'reviews.bookinfo.global', type: RRType.A, class: RRClass.IN }, withClient(client), { explain: false });
  t.is(d.kind, 'remote');
  t.deepEqual(d.clusters, ['cluster-east'], 'the client placed in us-east-1 gets the same-region cluster');
  t.is(d.ecsScopePrefix, 24);
  t.true(reads() > 0);
});
