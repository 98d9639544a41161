// Malformed-traffic soak: "nothing a client sends may crash the process or leak memory" (SPEC §1).
// Starts the built gsdns (embedded demo) on loopback, measures its RSS, sends a bounded stream of
// random and mutated queries over UDP (and garbage over TCP), then checks it still answers and
// reports RSS after each round: growth that stops after the first round is heap sizing, growth in
// every round is a leak. Usage: node bench/malformed-soak.mjs [PACKETS_PER_ROUND=200000] [ROUNDS=3]
// Loopback only; the server started here is stopped here.
import { spawn, execFileSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const total = Number(process.argv[2] ?? 200_000);
const rounds = Number(process.argv[3] ?? 3);
const bin = fileURLToPath(new URL('../bin/gsdns', import.meta.url));
const child = spawn(
  process.execPath,
  [
    bin,
    'serve',
    '--set',
    'dns.listen=[{address: 127.0.0.1, port: 0}]',
    '--set',
    'http.listen={address: 127.0.0.1, port: 0}',
    '--set',
    'log.level=info',
    '--set',
    'forward.upstreams=["127.0.0.1:9"]',
    '--set',
    'shutdown.lameDuckSeconds=0',
  ],
  {
    stdio: ['ignore', 'pipe', 'inherit'],
  },
);
const port = await new Promise((resolve, reject) => {
  let out = '';
  child.stdout.on('data', (d) => {
    out += d;
    const line = out.split('\n').find((l) => l.includes('gsdns serving'));
    if (line) resolve(JSON.parse(line).dns[0].port);
  });
  child.once('exit', (code) => reject(new Error(`gsdns exited ${code}`)));
});
const rssMb = () => Number(readFileSync(`/proc/${child.pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/)[1]) / 1024;

function query(name, type = 1, { qr = 0, opcode = 0, qd = 1, an = 0, ar = 0 } = {}) {
  const labels = name.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)]));
  const h = Buffer.alloc(12);
  h.writeUInt16BE(Math.floor(Math.random() * 65536), 0);
  h[2] = (qr << 7) | (opcode << 3) | 1;
  h.writeUInt16BE(qd, 4);
  h.writeUInt16BE(an, 6);
  h.writeUInt16BE(ar, 10);
  const q = Buffer.alloc(4);
  q.writeUInt16BE(type, 0);
  q.writeUInt16BE(1, 2);
  return Buffer.concat([h, ...labels, Buffer.from([0]), q]);
}
const seed = query('reviews.bookinfo.global');
function mutant() {
  const r = Math.random();
  if (r < 0.3) return Buffer.from(Array.from({ length: Math.floor(Math.random() * 600) }, () => Math.floor(Math.random() * 256)));
  if (r < 0.5) {
    const b = Buffer.from(seed);
    for (let i = 0; i < 1 + Math.floor(Math.random() * 4); i++) b[Math.floor(Math.random() * b.length)] = Math.floor(Math.random() * 256);
    return b;
  }
  if (r < 0.6) return seed.subarray(0, Math.floor(Math.random() * seed.length));
  if (r < 0.7) return query('x.bookinfo.global', 1, { qd: 0xffff, an: 0xffff, ar: 0xffff });
  if (r < 0.8) return query('reviews.bookinfo.global', 1, { qr: 1 });
  if (r < 0.9) return query(`n${Math.floor(Math.random() * 1e6)}.bookinfo.global`, Math.floor(Math.random() * 65536));
  return query('reviews.bookinfo.global', 1, { opcode: Math.floor(Math.random() * 16) });
}

async function stillAnswers() {
  const out = execFileSync('dig', ['+short', '+time=2', '+tries=2', '-p', String(port), '@127.0.0.1', 'reviews.bookinfo.global'], {
    encoding: 'utf8',
  });
  return out.trim() === '192.0.2.10';
}

await new Promise((r) => setTimeout(r, 300));
const rss = [rssMb()];
const started = Date.now();
const sock = createSocket('udp4');
sock.on('message', () => {});
let sent = 0;
for (let round = 0; round < rounds; round++) {
  for (let n = 0; n < total;) {
    // Bounded bursts, so the kernel buffer (not gsdns) is what drops under overload.
    for (let i = 0; i < 200 && n < total; i++, n++, sent++) sock.send(mutant(), port, '127.0.0.1');
    await new Promise((r) => setImmediate(r));
  }
  // TCP: garbage frames and abrupt closes.
  for (let i = 0; i < 100; i++) {
    await new Promise((resolve) => {
      const s = connect(port, '127.0.0.1', () => {
        const m = mutant();
        const len = Buffer.alloc(2);
        len.writeUInt16BE(Math.random() < 0.5 ? m.length : Math.floor(Math.random() * 65536));
        s.write(Buffer.concat([len, m]));
        setTimeout(() => s.destroy(), 5);
      });
      s.on('error', () => {});
      s.on('close', resolve);
    });
  }
  await new Promise((r) => setTimeout(r, 1000));
  rss.push(rssMb());
}
sock.close();
const ok = await stillAnswers();
console.log(
  `malformed soak: ${rounds} rounds of ${total} UDP packets + 100 TCP connections in ${((Date.now() - started) / 1000).toFixed(1)} s; ` +
    `alive=${child.exitCode === null}; still answers=${ok}; RSS MB by round: ${rss.map((x) => x.toFixed(1)).join(' → ')}`,
);
child.kill('SIGTERM');
await new Promise((r) => child.once('exit', r));
process.exit(ok ? 0 : 1);
