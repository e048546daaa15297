// @mcap/core's IWritable / IReadable over a node:fs FileHandle.

import { constants as bufferConstants } from 'node:buffer';
import { type FileHandle, mkdir, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import * as zlib from 'node:zlib';
import type { IReadable, IWritable } from '@mcap/core';

/**
 * Sequential writer; McapWriter reuses its buffer after write() resolves, so every byte is written before resolving.
 */
export class FileWritable implements IWritable {
  #pos = 0n;
  constructor(private readonly fh: FileHandle) {}

  async write(buffer: Uint8Array): Promise<void> {
    let off = 0;
    while (off < buffer.byteLength) {
      const { bytesWritten } = await this.fh.write(buffer, off, buffer.byteLength - off);
      off += bytesWritten;
    }
    this.#pos += BigInt(buffer.byteLength);
  }

  position(): bigint {
    return this.#pos;
  }
}

/**
 * Random-access reader. Every read is bounds-checked against the file size first: offsets and lengths
 * come from the file itself, and a damaged length must give an error, not a multi-GB allocation.
 */
export class FileReadable implements IReadable {
  constructor(
    private readonly fh: FileHandle,
    private readonly fileSize: bigint,
  ) {}

  async size(): Promise<bigint> {
    return this.fileSize;
  }

  async read(offset: bigint, size: bigint): Promise<Uint8Array> {
    if (offset < 0n || size < 0n || offset + size > this.fileSize) {
      throw new Error(`read of ${size} bytes at offset ${offset} is outside the file (${this.fileSize} bytes)`);
    }
    if (size > BigInt(bufferConstants.MAX_LENGTH)) {
      throw new Error(`read of ${size} bytes at offset ${offset} is larger than a buffer can hold`);
    }
    return readExactly(this.fh, Number(offset), Number(size));
  }
}

export async function readExactly(fh: FileHandle, offset: number, length: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(length);
  let got = 0;
  while (got < length) {
    const { bytesRead } = await fh.read(buf, got, length - got, offset + got);
    if (bytesRead === 0)
      throw new Error(`file ended at offset ${offset + got} while reading ${length} bytes at ${offset}`);
    got += bytesRead;
  }
  return buf;
}

/** zlib.crc32 arrived in Node 20.15; on older runtimes the caller skips the check. */
export const haveCrc32 = typeof (zlib as { crc32?: unknown }).crc32 === 'function';

/** CRC-32 (the one MCAP uses) of bytes [start, end) of the file, streamed in blocks. */
export async function crc32OfRange(fh: FileHandle, start: number, end: number): Promise<number> {
  const block = Buffer.allocUnsafe(Math.min(4 << 20, Math.max(1, end - start)));
  let crc = 0;
  for (let pos = start; pos < end; ) {
    const { bytesRead } = await fh.read(block, 0, Math.min(block.length, end - pos), pos);
    if (bytesRead === 0) throw new Error(`file ended at offset ${pos} while checking its CRC`);
    crc = zlib.crc32(block.subarray(0, bytesRead), crc);
    pos += bytesRead;
  }
  return crc;
}

/**
 * `mkdir -p`, one level at a time: fs.mkdir's own recursive mode never returns for a path in a file system
 * that refuses new entries with ENOENT (e.g. /proc/x on Linux, Node 20).
 */
export async function makeFolders(dir: string): Promise<void> {
  try {
    await mkdir(dir);
    return;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') {
      if ((await stat(dir)).isDirectory()) return;
      throw Object.assign(new Error(`${dir} is not a folder`), { code: 'ENOTDIR' });
    }
    if (code !== 'ENOENT' || dirname(dir) === dir) throw err;
  }
  await makeFolders(dirname(dir));
  await mkdir(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'EEXIST') throw err;
  });
}
