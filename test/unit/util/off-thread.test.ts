/**
 * util/off-thread.ts with `workerPerRequest` (issue 15): each request gets a worker of its own,
 * which exits once it has replied, so nothing of it stays in memory between requests. The worker
 * is the file source's catalog decoder (a real worker module).
 */
import test from 'ava';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FileReadRequest, FileReadResult } from '../../../src/sources/catalog-file-decoder.js';
import { OffThread, siblingModule } from '../../../src/util/off-thread.js';
import { until } from '../../helpers/poll.js';

const url = siblingModule(new URL('../../../src/sources/file.ts', import.meta.url).href, 'catalog-file-worker');
const request = (path: string): FileReadRequest => ({ path, lastHash: undefined, baseFingerprints: new Float64Array(0) });

test('workerPerRequest: each request in a new worker, which exits after its reply (no crash)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gsdns-off-thread-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'catalog.yaml');
  writeFileSync(path, 'services:\n  - {namespace: a, name: b, clusterIPs: [10.0.0.1], readyEndpoints: 1}\n');
  const crashes: Error[] = [];
  const decoder = new OffThread<FileReadRequest, FileReadResult>({
    url,
    workerPerRequest: true,
    resourceLimits: { maxYoungGenerationSizeMb: 8 },
    onCrash: (err) => crashes.push(err),
  });
  t.teardown(() => decoder.close());

  const first = await decoder.run(request(path));
  t.like(first, { kind: 'catalog', serviceCount: 1, reading: 'fast' });
  await until(t, 'the worker exited after replying', () => decoder.running === 0);
  const second = await decoder.run(request(path));
  t.like(second, { kind: 'catalog', serviceCount: 1 });
  // Two at once: two workers, both answered.
  const both = await Promise.all([decoder.run(request(path)), decoder.run(request(join(dir, 'missing.yaml')))]);
  t.like(both[0], { kind: 'catalog' });
  t.like(both[1], { kind: 'unreadable' });
  await until(t, 'both workers exited', () => decoder.running === 0);
  t.is(decoder.starts, 4);
  t.is(decoder.crashes, 0);
  t.deepEqual(crashes, []);
});

test('workerPerRequest: close rejects a request in flight and stops its worker', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gsdns-off-thread-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'catalog.yaml');
  writeFileSync(path, 'services: []\n');
  const decoder = new OffThread<FileReadRequest, FileReadResult>({ url, workerPerRequest: true });
  const pending = decoder.run(request(path));
  await decoder.close();
  await t.throwsAsync(pending, { message: 'worker closed' });
  t.is(decoder.running, 0);
  t.is(decoder.crashes, 0);
  await t.throwsAsync(decoder.run(request(path)), { message: 'worker closed' });
});
