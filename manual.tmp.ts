import { createDnsServer } from './src/dns/server.ts';
import { createFakeZone } from './test/helpers/fake-handler.ts';
const zone = createFakeZone();
const s = createDnsServer({ listen: [{ address: '127.0.0.1', port: 0 }, { address: '::1', port: 0 }], handler: zone.handler, ecsEnabled: process.env.ECS === '1',
  logger: { debug: (o, m) => console.error('D', m, JSON.stringify(o)), warn: console.error, error: (o, m) => console.error('E', m, JSON.stringify(o)) } });
const a = await s.start();
console.log(JSON.stringify(a));
setInterval(() => console.error(JSON.stringify(s.stats())), 5000).unref();
setTimeout(() => s.close(), 60000);
