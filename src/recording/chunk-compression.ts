// MCAP chunk compression: lz4 (the LZ4 frame format, as MCAP and Foxglove Studio expect) through lz4js,
// a small pure-JS implementation, so recording needs no native module. A chunk that lz4 does not shrink
// is stored uncompressed (MCAP allows that per chunk).

import type { DecompressHandlers } from '@mcap/core';
import * as lz4 from 'lz4js';
import { CHUNK_COMPRESSION } from './schemas.js';

export function compressChunk(data: Uint8Array): { compression: string; compressedData: Uint8Array } {
  const packed = lz4.compress(data);
  return packed.length < data.length
    ? { compression: CHUNK_COMPRESSION, compressedData: packed }
    : { compression: '', compressedData: data };
}

/** For McapIndexedReader: a chunk that does not unpack to exactly its stated size is damaged. */
export const DECOMPRESS_HANDLERS: DecompressHandlers = {
  [CHUNK_COMPRESSION]: (buffer: Uint8Array, size: bigint): Uint8Array => {
    if (size > BigInt(2 ** 31 - 1)) throw new Error(`an lz4 chunk of ${size} bytes is larger than this reader takes`);
    let out: Uint8Array;
    try {
      out = lz4.decompress(buffer, Number(size));
    } catch (err) {
      throw new Error(`lz4 chunk does not decompress (${err instanceof Error ? err.message : String(err)})`);
    }
    if (BigInt(out.length) !== size) throw new Error(`lz4 chunk unpacks to ${out.length} bytes, expected ${size}`);
    return out;
  },
};
