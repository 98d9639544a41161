import { connect } from 'node:net';
import { createDnsServer } from './src/dns/server.ts';
import { createFakeZone } from './test/helpers/fake-handler.ts';
import { craftQuery, frame, rawQuestion } from './test/helpers/dns-tools.ts';
const zone = createFakeZone();
const s = createDnsServer({ listen: [{ address: '127.0.0.1', port: 0 }], handler: zone.handler });
const [b] = await s.start();
const N = Number(process.env.N ?? 20000);
const q = frame(craftQuery({ questions: [rawQuestion('big.test.global')] }));
const sock = connect({ port: b!.port, host: '127.0.0.1' });
sock.pause();
await new Promise((r) => sock.once('connect', r));
const all = Buffer.concat(Array.from({ length: N }, () => q));
sock.write(all);
const m0 = process.memoryUsage().rss;
for (let i = 0; i < 10; i++) {
  await new Promise((r) => setTimeout(r, 200));
  console.log(i, 'calls', zone.calls.length, JSON.stringify(s.stats()), 'rss MB', ((process.memoryUsage().rss - m0) / 1e6).toFixed(1));
}
sock.destroy(); await s.close();
