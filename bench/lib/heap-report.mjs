/**
 * Preloaded into the instance under test by bench/sync-scale.ts (node --expose-gc
 * --import=<this file>): on SIGWINCH it runs two full garbage collections and writes the heap's
 * figures (and the heap's size before them) as one JSON line to the file named by BENCH_HEAP_REPORT. Bench-only: the server never
 * loads it. SIGWINCH because SIGUSR1 starts the inspector and SIGUSR2 is the usual
 * --heapsnapshot-signal.
 */
import { writeFileSync } from 'node:fs';
import { getHeapSpaceStatistics, getHeapStatistics } from 'node:v8';

const file = process.env['BENCH_HEAP_REPORT'];
if (file) {
  process.on('SIGWINCH', () => {
    const before = process.memoryUsage();
    const gc = globalThis.gc;
    if (typeof gc === 'function') {
      gc();
      gc();
    }
    const m = process.memoryUsage();
    const h = getHeapStatistics();
    const spaces = Object.fromEntries(getHeapSpaceStatistics().map((s) => [s.space_name, { size: s.space_size, used: s.space_used_size }]));
    writeFileSync(
      file,
      `${JSON.stringify({
        at: Date.now(),
        before: { rss: before.rss, heapUsed: before.heapUsed, heapTotal: before.heapTotal },
        rss: m.rss,
        heapUsed: m.heapUsed,
        heapTotal: m.heapTotal,
        external: m.external,
        arrayBuffers: m.arrayBuffers,
        totalPhysical: h.total_physical_size,
        mallocedMemory: h.malloced_memory,
        spaces,
      })}\n`,
    );
  });
}
