/**
 * The worker thread that decodes the catalog file (edge: worker_threads; the logic is the pure
 * catalog-file-decoder.ts). Started by the file source through util/off-thread.ts.
 */
import { serveOffThread } from '../util/off-thread.js';
import { decodeCatalogFileBytes, type FileDecodeRequest, type FileDecodeResult } from './catalog-file-decoder.js';

void serveOffThread<FileDecodeRequest, FileDecodeResult>(decodeCatalogFileBytes, (r) => (r.kind === 'catalog' ? [r.fingerprints.buffer as ArrayBuffer] : []));
