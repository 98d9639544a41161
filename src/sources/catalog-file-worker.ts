/**
 * The worker thread that reads and decodes the catalog file (edge: worker_threads and the file
 * read; the logic is the pure catalog-file-decoder.ts). Started by the file source through
 * util/off-thread.ts, one per reload: it exits once it has replied, and its whole heap with it.
 * Reading here keeps the file's octets (megabytes for 50,000 services) and their garbage off the
 * DNS thread's heap.
 */
import { readFileSync } from 'node:fs';
import { serveOffThread } from '../util/off-thread.js';
import { decodeCatalogFileBytes, type FileReadRequest, type FileReadResult } from './catalog-file-decoder.js';

function readAndDecode(req: FileReadRequest): FileReadResult {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(req.path);
  } catch (err) {
    return { kind: 'unreadable', message: (err as Error).message };
  }
  return decodeCatalogFileBytes({
    bytes,
    lastHash: req.lastHash,
    baseFingerprints: req.baseFingerprints,
    localCluster: req.localCluster,
    freshAsJson: true,
  });
}

void serveOffThread<FileReadRequest, FileReadResult>(readAndDecode, (r) =>
  r.kind === 'catalog'
    ? [r.fingerprints.buffer as ArrayBuffer, r.freshFingerprints.buffer as ArrayBuffer, r.removed.buffer as ArrayBuffer]
    : [],
);
