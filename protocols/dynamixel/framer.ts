// Cuts a serial byte stream into packets. A read may hold part of a packet, several packets, or line
// noise; the framer buffers, finds the next header, waits for LEN bytes, checks the CRC and hands out
// unstuffed packets. A bad CRC or an impossible LEN costs one byte: the search restarts right after the
// false header, so a real packet that follows the garbage is still found. Preallocated buffers only.
// A line that goes quiet with part of a packet buffered (noise that looked like a header with a long LEN, or
// the head of a packet whose tail was lost) would otherwise hold back the next real packet until LEN bytes
// more had come, which can be a thousand bytes of retries: after a silence of `stale_ms` the buffered bytes
// are dropped as garbage, the way a receiver's inter-byte timeout returns it to waiting for a header.
import { crc16 } from './crc.js';
import { HEADER_BYTES, INSTRUCTION, MAX_LENGTH_FIELD, type Packet, PrefixViews, unstuffInto } from './packet.js';

export interface FramerCounters {
  packets: number;
  crc_errors: number;
  /** Bytes skipped while looking for a header. */
  garbage_bytes: number;
  /** Partial packets dropped after a silence of stale_ms. */
  stale_drops: number;
}

const CAPACITY = 8192;
/**
 * Silence after which a partial packet is dropped. Longer than any gap inside one packet (a USB-serial adapter
 * holds bytes up to its 16 ms latency timer) and than the driver's longest reply timeout (100 ms for set-up
 * requests), so a reply the driver still waits for is never cut; far shorter than a thousand bytes of retries.
 */
export const DEFAULT_STALE_MS = 100;

export class PacketFramer {
  readonly counters: FramerCounters = { packets: 0, crc_errors: 0, garbage_bytes: 0, stale_drops: 0 };
  private readonly buf = new Uint8Array(CAPACITY);
  private readonly body = new Uint8Array(CAPACITY);
  private start = 0;
  private end = 0;
  private readonly packet: Packet = { id: 0, instruction: 0, error: 0, data: this.body };
  /** A packet's data is moved to the start of `body` and handed out as one of these. */
  private readonly dataViews = new PrefixViews(this.body);
  private last_push_ms = -Infinity;

  /**
   * @param onPacket called for every good packet (the packet object and its data are reused)
   * @param onCrcError called for every packet dropped for its CRC, with the ID it claimed
   * @param stale_ms silence after which buffered bytes are dropped (Infinity: never)
   */
  constructor(
    private readonly onPacket: (p: Packet) => void,
    private readonly onCrcError: (claimedId: number) => void = () => {},
    private readonly stale_ms = DEFAULT_STALE_MS,
  ) {}

  /** Feed bytes as they arrive: the first `length` bytes of `chunk` (`now_ms`: when, for the stale rule). */
  push(chunk: Uint8Array, length = chunk.length, now_ms = performance.now()): void {
    if (now_ms - this.last_push_ms > this.stale_ms && this.end > this.start) {
      this.counters.garbage_bytes += this.end - this.start;
      this.counters.stale_drops++;
      this.start = this.end = 0;
    }
    this.last_push_ms = now_ms;
    let off = 0;
    while (off < length) {
      if (this.end === CAPACITY) this.compact();
      if (this.end === CAPACITY) {
        // a whole buffer without a complete packet: it is noise; keep only the tail
        this.counters.garbage_bytes += this.end - 3;
        this.buf.copyWithin(0, this.end - 3, this.end);
        this.start = 0;
        this.end = 3;
      }
      const n = Math.min(length - off, CAPACITY - this.end);
      const b = this.buf;
      for (let i = 0; i < n; i++) b[this.end + i] = chunk[off + i];
      this.end += n;
      off += n;
      this.parse();
    }
  }

  /** Forget buffered bytes (before a retry, so the rest of a broken packet cannot delay the next). */
  reset(): void {
    this.start = this.end = 0;
  }

  get buffered(): number {
    return this.end - this.start;
  }

  private parse(): void {
    const b = this.buf;
    for (;;) {
      const h = this.findHeader();
      if (h < 0) return;
      this.counters.garbage_bytes += h - this.start;
      this.start = h;
      if (this.end - h < HEADER_BYTES) return;
      const length = b[h + 5] | (b[h + 6] << 8);
      if (length < 3 || length > MAX_LENGTH_FIELD) {
        this.skip(1);
        continue;
      }
      const total = HEADER_BYTES + length;
      if (this.end - h < total) return;
      const crc = b[h + total - 2] | (b[h + total - 1] << 8);
      if (crc16(b, h, h + total - 2) !== crc) {
        this.counters.crc_errors++;
        this.skip(1);
        this.onCrcError(b[h + 4]);
        continue;
      }
      const n = unstuffInto(b, h + HEADER_BYTES, h + total - 2, this.body);
      const p = this.packet;
      p.id = b[h + 4];
      p.instruction = this.body[0];
      const isStatus = p.instruction === INSTRUCTION.status && n >= 2;
      p.error = isStatus ? this.body[1] : 0;
      p.data = this.dataView(isStatus ? 2 : 1, n);
      this.start = h + total;
      this.counters.packets++;
      this.onPacket(p);
    }
  }

  /** Index of the next `FF FF FD 00`, or -1 keeping a possible partial header at the end. */
  private findHeader(): number {
    const b = this.buf;
    let i = this.start;
    for (; i + 3 < this.end; i++) {
      if (b[i] === 0xff && b[i + 1] === 0xff && b[i + 2] === 0xfd && b[i + 3] === 0x00) return i;
    }
    // keep up to 3 trailing bytes that may begin a header
    let keep = this.end;
    while (keep > this.start && keep > this.end - 3 && (b[keep - 1] === 0xff || b[keep - 1] === 0xfd)) keep--;
    this.counters.garbage_bytes += keep - this.start;
    this.start = keep;
    if (this.start === this.end) this.start = this.end = 0;
    return -1;
  }

  /** Move body[from..to) to the start of body and return a view of it. */
  private dataView(from: number, to: number): Uint8Array {
    this.body.copyWithin(0, from, to);
    return this.dataViews.get(to - from);
  }

  private skip(n: number): void {
    this.counters.garbage_bytes += n;
    this.start += n;
  }

  private compact(): void {
    if (this.start === 0) return;
    this.buf.copyWithin(0, this.start, this.end);
    this.end -= this.start;
    this.start = 0;
  }
}
