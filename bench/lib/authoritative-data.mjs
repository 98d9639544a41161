// Data for bench/authoritative.sh: one catalog, and the same answers as a zone file, so gsdns, NSD
// and the miekg/dns server answer the same names with the same records.
// Usage: node bench/lib/authoritative-data.mjs OUT_DIR
//   catalog.yaml   10,000 local services + 20 remote clusters (2 gateways each) exporting 500 services
//   global.zone    the same names: local ClusterIPs, remote names with the gateways gsdns answers
//                  (the remote cluster in the client's region), SRV records of the local services
//   local.txt remote.txt nxdomain.txt srv.txt   dnsperf query files
//   ecs.bin        the ECS mix in dnsperf's binary input (-B: each query prefixed by its 2-octet
//                  length): the remote names, one query in ten carrying an ECS option from one of
//                  50 different /24s (10.20.0.0/24 … 10.20.49.0/24), the others without EDNS
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const out = process.argv[2];
if (!out) throw new Error('usage: authoritative-data.mjs OUT_DIR');
mkdirSync(out, { recursive: true });

const LOCAL = 10_000;
const REMOTE_CLUSTERS = 20;
const REMOTE_SERVICES = 500;
const ip = (base, i) => `${base}.${(i >> 8) & 255}.${i & 255}`;
const local = (i) => ({ namespace: `ns${i % 100}`, name: `svc${i}`, clusterIP: ip('10.96', i) });
const remote = (j) => ({ namespace: `rns${j % 50}`, name: `rsvc${j}` });
// The client (this cluster) is in eu-west-1; cluster r0 shares its region, so gsdns answers r0's gateways.
const clusters = Array.from({ length: REMOTE_CLUSTERS }, (_, c) => ({
  cluster: `r${c}`,
  region: c === 0 ? 'eu-west-1' : `region-${c}`,
  location: { lat: -60 + c * 6, lon: -170 + c * 17 },
  gateways: [`198.18.${c}.1`, `198.18.${c}.2`],
}));

const yaml = ['services:'];
for (let i = 0; i < LOCAL; i++) {
  const s = local(i);
  yaml.push(
    `  - {namespace: ${s.namespace}, name: ${s.name}, clusterIPs: [${s.clusterIP}], readyEndpoints: 1, ports: [{name: http, port: 9080, protocol: TCP}]}`,
  );
}
yaml.push('remotes:');
for (const c of clusters) {
  yaml.push(`  - cluster: ${c.cluster}`, `    region: ${c.region}`, `    location: {lat: ${c.location.lat}, lon: ${c.location.lon}}`);
  yaml.push(`    gateways: [${c.gateways.map((g) => `{address: ${g}, port: 15443}`).join(', ')}]`, '    services:');
  for (let j = 0; j < REMOTE_SERVICES; j++) {
    const s = remote(j);
    yaml.push(`      - {namespace: ${s.namespace}, name: ${s.name}, ready: true, ports: [{name: http, port: 9080, protocol: TCP}]}`);
  }
}
writeFileSync(join(out, 'catalog.yaml'), yaml.join('\n') + '\n');

const zone = [
  '$ORIGIN global.',
  '$TTL 5',
  '@ 5 IN SOA ns.global. hostmaster.global. 1 7200 1800 86400 5',
  '@ 5 IN NS ns.global.',
  'ns 5 IN A 127.0.0.1',
];
for (let i = 0; i < LOCAL; i++) {
  const s = local(i);
  zone.push(`${s.name}.${s.namespace} 5 IN A ${s.clusterIP}`);
  zone.push(`_http._tcp.${s.name}.${s.namespace} 5 IN SRV 0 0 9080 ${s.name}.${s.namespace}.global.`);
}
for (let j = 0; j < REMOTE_SERVICES; j++) {
  const s = remote(j);
  for (const g of clusters[0].gateways) zone.push(`${s.name}.${s.namespace} 5 IN A ${g}`);
}
writeFileSync(join(out, 'global.zone'), zone.join('\n') + '\n');

// 1,429 local names spread over the catalog (every 7th), as in the issue's measurement.
const pick = (n, step, f) => Array.from({ length: n }, (_, k) => f((k * step) % (step * n)));
writeFileSync(join(out, 'local.txt'), pick(1429, 7, (i) => `${local(i).name}.${local(i).namespace}.global A`).join('\n') + '\n');
writeFileSync(
  join(out, 'remote.txt'),
  pick(REMOTE_SERVICES, 1, (j) => `${remote(j).name}.${remote(j).namespace}.global A`).join('\n') + '\n',
);
writeFileSync(join(out, 'nxdomain.txt'), pick(1000, 1, (k) => `nosuch${k}.ns${k % 100}.global A`).join('\n') + '\n');
writeFileSync(join(out, 'srv.txt'), pick(1000, 9, (i) => `_http._tcp.${local(i).name}.${local(i).namespace}.global SRV`).join('\n') + '\n');

// The ECS mix: 5,000 queries over the remote names; every tenth has an OPT record with an ECS
// option (RFC 7871: FAMILY 1, SOURCE 24, SCOPE 0, three address octets) from one of 50 /24s.
const wireName = (name) =>
  Buffer.concat([...name.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'ascii')])), Buffer.from([0])]);
const ecsQueries = [];
for (let k = 0; k < 5000; k++) {
  const s = remote(k % REMOTE_SERVICES);
  const withEcs = k % 10 === 0;
  const header = Buffer.from([0, 0, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, withEcs ? 1 : 0]);
  const question = Buffer.concat([wireName(`${s.name}.${s.namespace}.global`), Buffer.from([0, 1, 0, 1])]);
  const subnet = (k / 10) % 50;
  const option = Buffer.from([0, 8, 0, 7, 0, 1, 24, 0, 10, 20, subnet]);
  const opt = withEcs ? Buffer.concat([Buffer.from([0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, option.length]), option]) : Buffer.alloc(0);
  const message = Buffer.concat([header, question, opt]);
  const length = Buffer.alloc(2);
  length.writeUInt16BE(message.length);
  ecsQueries.push(length, message);
}
writeFileSync(join(out, 'ecs.bin'), Buffer.concat(ecsQueries));
