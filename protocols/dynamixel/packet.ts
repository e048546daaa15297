// Protocol 2.0 packet layout: `FF FF FD 00 | ID | LEN_L LEN_H | INST | params | CRC_L CRC_H`, LEN = bytes
// after itself (instruction + stuffed params + CRC). Status packets are instruction 0x55 whose first
// param is the ERR byte. Inside INST..params any `FF FF FD` is sent as `FF FF FD FD` (byte stuffing) so
// that a header can never appear in a payload; the CRC covers the packet as sent (after stuffing).
import { crc16 } from './crc.js';

export const INSTRUCTION = {
  ping: 0x01,
  read: 0x02,
  write: 0x03,
  reg_write: 0x04,
  action: 0x05,
  factory_reset: 0x06,
  reboot: 0x08,
  clear: 0x10,
  status: 0x55,
  sync_read: 0x82,
  sync_write: 0x83,
  fast_sync_read: 0x8a,
  bulk_read: 0x92,
  bulk_write: 0x93,
  fast_bulk_read: 0x9a,
} as const;

export const BROADCAST_ID = 0xfe;
export const HEADER_BYTES = 7; // FF FF FD 00 ID LEN_L LEN_H
/** Largest LEN accepted from the wire; X-series packets are far smaller, so anything bigger is garbage. */
export const MAX_LENGTH_FIELD = 1024;
/** Room for the largest packet (each 3 param bytes may gain one stuffing byte). */
export const MAX_PACKET_BYTES = HEADER_BYTES + MAX_LENGTH_FIELD;

/**
 * Copy src[0, n) to out at `at`, inserting a stuffing FD after every FF FF FD. Returns the index after
 * the last byte written. The pattern is matched on the source bytes, so a stuffed FD never starts a
 * new match.
 */
export function stuffInto(src: Uint8Array, n: number, out: Uint8Array, at: number): number {
  let o = at;
  for (let i = 0; i < n; i++) {
    const b = src[i];
    out[o++] = b;
    if (b === 0xfd && i >= 2 && src[i - 1] === 0xff && src[i - 2] === 0xff) out[o++] = 0xfd;
  }
  return o;
}

/** Remove stuffing from bytes[start, end) into out (from 0); returns the unstuffed length. */
export function unstuffInto(bytes: Uint8Array, start: number, end: number, out: Uint8Array): number {
  let o = 0;
  for (let i = start; i < end; i++) {
    const b = bytes[i];
    if (b === 0xfd && i - start >= 3 && bytes[i - 1] === 0xfd && bytes[i - 2] === 0xff && bytes[i - 3] === 0xff)
      continue;
    out[o++] = b;
  }
  return o;
}

/**
 * Write a whole packet into `out` from index 0: body = [instruction, ...params[0, paramsLength)].
 * `scratch` holds the unstuffed body while it is built (pass a preallocated one on hot paths).
 * Returns the packet length.
 */
export function encodePacketInto(
  out: Uint8Array,
  id: number,
  instruction: number,
  params: Uint8Array,
  paramsLength = params.length,
  scratch: Uint8Array = new Uint8Array(paramsLength + 1),
): number {
  scratch[0] = instruction;
  for (let i = 0; i < paramsLength; i++) scratch[i + 1] = params[i];
  out[0] = 0xff;
  out[1] = 0xff;
  out[2] = 0xfd;
  out[3] = 0x00;
  out[4] = id;
  const end = stuffInto(scratch, paramsLength + 1, out, HEADER_BYTES);
  const length = end - HEADER_BYTES + 2;
  out[5] = length & 0xff;
  out[6] = length >> 8;
  const crc = crc16(out, 0, end);
  out[end] = crc & 0xff;
  out[end + 1] = crc >> 8;
  return end + 2;
}

/**
 * Views of the start of one buffer, one per length, each made the first time it is asked for: how the
 * control loop's packets are handed out (the writer's, the framer's) without a new view per packet.
 */
export class PrefixViews<T extends Uint8Array> {
  private readonly views: T[] = [];

  constructor(private readonly buffer: T) {}

  /** buffer[0, n) */
  get(n: number): T {
    let v = this.views[n];
    if (v === undefined) {
      v = this.buffer.subarray(0, n) as T;
      this.views[n] = v;
    }
    return v;
  }
}

/** Allocating convenience for tests and one-off commands. */
export function encodePacket(id: number, instruction: number, params: ArrayLike<number> = []): Buffer {
  const p = Uint8Array.from(params);
  const out = Buffer.alloc(HEADER_BYTES + 3 + Math.ceil(((p.length + 1) * 4) / 3) + 2);
  return out.subarray(0, encodePacketInto(out, id, instruction, p));
}

/** A status packet: ERR byte then data. */
export function encodeStatus(id: number, error: number, data: ArrayLike<number> = []): Buffer {
  return encodePacket(id, INSTRUCTION.status, [error, ...Array.from(data)]);
}

/** A framed, CRC-checked, unstuffed packet. `data` is a view that is only valid during the callback. */
export interface Packet {
  id: number;
  instruction: number;
  /** ERR byte of a status packet (0 for instruction packets). */
  error: number;
  /** Params after the instruction (after the ERR byte for a status packet). */
  data: Uint8Array;
}

export function readIntLE(bytes: Uint8Array, at: number, size: number): number {
  if (size === 1) return bytes[at];
  if (size === 2) return bytes[at] | (bytes[at + 1] << 8);
  return bytes[at] | (bytes[at + 1] << 8) | (bytes[at + 2] << 16) | (bytes[at + 3] << 24); // signed 32 bit
}

export function writeIntLE(bytes: Uint8Array, at: number, size: number, value: number): void {
  bytes[at] = value & 0xff;
  if (size >= 2) bytes[at + 1] = (value >> 8) & 0xff;
  if (size === 4) {
    bytes[at + 2] = (value >> 16) & 0xff;
    bytes[at + 3] = (value >> 24) & 0xff;
  }
}

/**
 * FAST_SYNC_READ status (one packet, ID 0xFE, from every listed servo in turn): after the instruction, per
 * servo `ERR | ID | data[length] | CRC_L CRC_H`, where each servo's CRC covers the packet so far and the last
 * one is the packet's own CRC. `error`/`data` as a framer hands them out: the first ERR byte apart, the last
 * CRC gone.
 */
export interface FastSyncBlock {
  id: number;
  error: number;
  data: Uint8Array;
}

/** Bytes per servo in a FAST_SYNC_READ status: ERR, ID, data, CRC. */
export const fastSyncBlockBytes = (length: number) => length + 4;

/**
 * The params (after 0x55) of a FAST_SYNC_READ status without its final CRC (encodePacketInto adds it).
 * The servos' own CRCs are computed over the header and the unstuffed bytes before them: readers (the
 * ROBOTIS SDK among them) check only the last.
 */
export function fastSyncParams(blocks: readonly FastSyncBlock[], length: number): Uint8Array {
  const out = new Uint8Array(Math.max(0, blocks.length * fastSyncBlockBytes(length) - 2));
  const lenField = 1 + blocks.length * fastSyncBlockBytes(length);
  const prefix = new Uint8Array(HEADER_BYTES + 1 + out.length);
  prefix.set([0xff, 0xff, 0xfd, 0x00, BROADCAST_ID, lenField & 0xff, lenField >> 8, INSTRUCTION.status]);
  let at = 0;
  blocks.forEach((b, i) => {
    out[at] = b.error;
    out[at + 1] = b.id;
    out.set(b.data.subarray(0, length), at + 2);
    at += 2 + length;
    if (i === blocks.length - 1) return;
    prefix.set(out.subarray(0, at), HEADER_BYTES + 1);
    const crc = crc16(prefix, 0, HEADER_BYTES + 1 + at);
    out[at] = crc & 0xff;
    out[at + 1] = crc >> 8;
    at += 2;
  });
  return out;
}

/** A framed FAST_SYNC_READ status split per servo (copies); undefined if its length does not fit `length`. */
export function decodeFastSyncStatus(p: Packet, length: number): FastSyncBlock[] | undefined {
  const per = fastSyncBlockBytes(length);
  // the framer took the first ERR byte out and the last CRC off
  const n = (p.data.length + 3) / per;
  if (p.id !== BROADCAST_ID || p.instruction !== INSTRUCTION.status || !Number.isInteger(n) || n < 1) return undefined;
  const out: FastSyncBlock[] = [];
  for (let i = 0; i < n; i++) {
    const at = i * per - 1; // where this block's ERR byte is (the first one's is p.error)
    const error = i === 0 ? p.error : p.data[at];
    out.push({ id: p.data[at + 1], error, data: p.data.slice(at + 2, at + 2 + length) });
  }
  return out;
}
