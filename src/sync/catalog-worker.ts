/**
 * The worker thread that decodes peer catalogs (edge: worker_threads; the logic is the pure
 * catalog-decoder.ts). Started by the sync client through util/off-thread.ts.
 */
import { serveOffThread } from '../util/off-thread.js';
import { decodeCatalog, type DecodeRequest, type DecodeResult } from './catalog-decoder.js';

void serveOffThread<DecodeRequest, DecodeResult>(decodeCatalog, (r) =>
  r.kind === 'catalog' ? [r.refs.buffer as ArrayBuffer, r.fingerprints.buffer as ArrayBuffer, r.keys.buffer as ArrayBuffer] : [],
);
