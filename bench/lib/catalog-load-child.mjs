// Child of bench/catalog-load.ts: one catalog file loaded through the file source of one build, in
// a process of its own, so the peak RSS is this load's and nothing else's.
// Usage: node --expose-gc bench/lib/catalog-load-child.mjs DIST FILE SERVICES
//   DIST      a dist/ folder (this build's, or BASELINE_DIST)
//   FILE      the catalog file
//   SERVICES  how many local services FILE holds (checked after the load)
// Prints one JSON line: loadMs (FileSource.start() until the catalog is in the registry, the
// decoder worker's start included), peakMb (the process's maxRSS), rssLoadedMb (RSS when loaded),
// rssSettledMb (RSS 2 s later: a build that keeps its decoder worker still holds it then),
// heapAfterGcMb (this thread's heap after a full GC) and the file source's state.
// Plain JavaScript importing built files: no tsx loader in the measured process.
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';

const [dist, file, expected] = process.argv.slice(2);
if (!dist || !file || !expected) {
  console.error('usage: catalog-load-child.mjs DIST FILE SERVICES');
  process.exit(2);
}
const rssMb = () => Math.round(process.memoryUsage().rss / 1048576);
const { FileSource } = await import(`${dist}/sources/file.js`);
const { Registry } = await import(`${dist}/registry/registry.js`);
const { Readiness } = await import(`${dist}/registry/readiness.js`);
const { createLogger } = await import(`${dist}/log.js`);

const errors = [];
const sink = new Writable({
  write(chunk, _enc, done) {
    errors.push(String(chunk).slice(0, 500));
    done();
  },
});
const registry = new Registry({ initialSerial: 1, localCluster: 'bench' });
const readiness = new Readiness();
const source = new FileSource({ path: file, registry, readiness, logger: createLogger('warn', sink), localCluster: 'bench' });
const rssBeforeMb = rssMb();
const t0 = performance.now();
await source.start();
const loadMs = Math.round(performance.now() - t0);
const rssLoadedMb = rssMb();
const services = registry.localServices().length;
await sleep(2000);
const rssSettledMb = rssMb();
source.stop();
globalThis.gc?.();
const status = source.status();
console.log(
  JSON.stringify({
    loadMs,
    peakMb: Math.round(process.resourceUsage().maxRSS / 1024),
    rssBeforeMb,
    rssLoadedMb,
    rssSettledMb,
    heapAfterGcMb: Math.round(process.memoryUsage().heapUsed / 1048576),
    loaded: status.loaded && services === Number(expected),
    services,
    errors,
  }),
);
process.exit(0);
