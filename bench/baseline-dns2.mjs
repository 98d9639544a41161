// Baseline for bench/run.sh: a bare dns2 3.1.1 UDP server answering every query with one A record,
// no validation, no registry. It measures what dns2's own parse+encode path costs on this machine,
// so gsdns's figure can be quoted as a ratio measured in the same run.
import dns2 from 'dns2';
const { Packet } = dns2;
const port = Number(process.argv[2] ?? 15400);
const server = dns2.createServer({
  udp: true,
  handle: (request, send) => {
    const response = Packet.createResponseFromRequest(request);
    const [q] = request.questions;
    if (q) response.answers.push({ name: q.name, type: Packet.TYPE.A, class: Packet.CLASS.IN, ttl: 5, address: '192.0.2.10' });
    send(response);
  },
});
server.on('requestError', () => {});
await server.listen({ udp: { port, address: '127.0.0.1' } });
process.stdout.write(`baseline dns2 listening on 127.0.0.1:${port}\n`);
process.on('SIGTERM', () => server.close().then(() => process.exit(0)));
