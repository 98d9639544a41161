/**
 * The worker thread that decodes peer catalogs (edge: worker_threads; the logic is the pure
 * catalog-decoder.ts). Started by the sync client through util/off-thread.ts. The changed services
 * go back packed (catalog-pack.ts packServices: a few arrays, not an object each), and every array
 * is moved, not copied.
 */
import { serveOffThread } from '../util/off-thread.js';
import { decodeCatalog, packResult, resultBuffers, type DecodeRequest, type DecodeResult } from './catalog-decoder.js';

void serveOffThread<DecodeRequest, DecodeResult>((req) => packResult(decodeCatalog(req)), resultBuffers);
