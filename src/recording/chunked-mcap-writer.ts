// An MCAP writer whose caller decides where chunks end. @mcap/core's McapWriter closes a chunk only when it
// passes a byte size (1 MiB by default), so a state-only episode would sit up to a minute in memory and a
// killed process would lose it; here the episode writer flushes a chunk every second of ticks (see
// episode-writer.ts), on a tick boundary, so a chunk always holds whole ticks and the file on disk is at
// every moment a prefix of a valid MCAP file: magic, header, schemas, channels, then complete chunks.
// Built from @mcap/core's own record and chunk builders; the summary section is the same as McapWriter's
// (schemas, channels, statistics, metadata and chunk indexes, summary offsets), so readers see no difference.
import * as zlib from 'node:zlib';
import { McapChunkBuilder, McapConstants, McapRecordBuilder, type McapTypes as T } from '@mcap/core';

/** Where the bytes go: every byte written before write() resolves (the builders reuse their buffers). */
export interface ByteSink {
  write(buffer: Uint8Array): Promise<void>;
  position(): bigint;
}

export type ChunkCompressor = (data: Uint8Array) => { compression: string; compressedData: Uint8Array };

/** Data-section and summary CRCs need zlib.crc32 (Node 20.15+); without it MCAP's "not computed" (0) is written. */
const crc32: ((data: Uint8Array, value?: number) => number) | undefined = (
  zlib as { crc32?: (data: Uint8Array, value?: number) => number }
).crc32;

export class ChunkedMcapWriter {
  #records = new McapRecordBuilder();
  #chunk = new McapChunkBuilder({ useMessageIndex: true });
  #schemas = new Map<number, T.Schema>();
  #channels = new Map<number, T.Channel>();
  #chunkIndexes: T.ChunkIndex[] = [];
  #metadataIndexes: T.MetadataIndex[] = [];
  #stats: T.Statistics = {
    messageCount: 0n,
    schemaCount: 0,
    channelCount: 0,
    attachmentCount: 0,
    metadataCount: 0,
    chunkCount: 0,
    messageStartTime: 0n,
    messageEndTime: 0n,
    channelMessageCounts: new Map(),
  };
  #dataCrc = 0;
  #started = false;

  constructor(
    private readonly sink: ByteSink,
    private readonly compress: ChunkCompressor,
  ) {}

  get started(): boolean {
    return this.#started;
  }

  /** Bytes of messages waiting in the open chunk (uncompressed). */
  get chunkBytes(): number {
    return this.#chunk.byteLength;
  }

  registerSchema(info: Omit<T.Schema, 'id'>): number {
    if (this.#started) throw new Error('ChunkedMcapWriter: schemas are registered before start()');
    const id = this.#schemas.size + 1; // 0 means "no schema" in MCAP
    this.#schemas.set(id, { ...info, id });
    this.#stats.schemaCount++;
    return id;
  }

  registerChannel(info: Omit<T.Channel, 'id'>): number {
    if (this.#started) throw new Error('ChunkedMcapWriter: channels are registered before start()');
    const id = this.#channels.size;
    this.#channels.set(id, { ...info, id });
    this.#stats.channelCount++;
    return id;
  }

  /** Magic, header, then every schema and channel, so a reader of any prefix knows them before a message. */
  async start(header: T.Header): Promise<void> {
    this.#started = true;
    this.#records.writeMagic();
    this.#records.writeHeader(header);
    for (const s of this.#schemas.values()) this.#records.writeSchema(s);
    for (const c of this.#channels.values()) this.#records.writeChannel(c);
    await this.#emitData();
  }

  /** Into the open chunk (memory only): flushChunk() writes it. */
  addMessage(message: T.Message): void {
    if (!this.#channels.has(message.channelId)) throw new Error(`ChunkedMcapWriter: no channel ${message.channelId}`);
    const s = this.#stats;
    if (s.messageCount === 0n || message.logTime < s.messageStartTime) s.messageStartTime = message.logTime;
    if (s.messageCount === 0n || message.logTime > s.messageEndTime) s.messageEndTime = message.logTime;
    s.messageCount++;
    s.channelMessageCounts.set(message.channelId, (s.channelMessageCounts.get(message.channelId) ?? 0n) + 1n);
    this.#chunk.addMessage(message);
  }

  /** Writes the open chunk, then its message indexes (nothing when it is empty). */
  async flushChunk(): Promise<void> {
    const c = this.#chunk;
    if (c.numMessages === 0) return;
    const data = c.buffer;
    const { compression, compressedData } = this.compress(data);
    const chunkStartOffset = this.sink.position();
    const record: T.Chunk = {
      messageStartTime: c.messageStartTime,
      messageEndTime: c.messageEndTime,
      uncompressedSize: BigInt(data.byteLength),
      uncompressedCrc: crc32 ? crc32(data) : 0,
      compression,
      records: compressedData,
    };
    const chunkLength = this.#records.writeChunk(record);
    await this.#emitData();
    const messageIndexStart = this.sink.position();
    const messageIndexOffsets = new Map<number, bigint>();
    let messageIndexLength = 0n;
    for (const index of c.indices) {
      messageIndexOffsets.set(index.channelId, messageIndexStart + messageIndexLength);
      messageIndexLength += this.#records.writeMessageIndex(index);
    }
    await this.#emitData();
    this.#chunkIndexes.push({
      messageStartTime: record.messageStartTime,
      messageEndTime: record.messageEndTime,
      chunkStartOffset,
      chunkLength,
      messageIndexOffsets,
      messageIndexLength,
      compression,
      compressedSize: BigInt(compressedData.byteLength),
      uncompressedSize: record.uncompressedSize,
    });
    this.#stats.chunkCount++;
    c.reset();
  }

  async addMetadata(metadata: T.Metadata): Promise<void> {
    const offset = this.sink.position();
    const length = this.#records.writeMetadata(metadata);
    await this.#emitData();
    this.#metadataIndexes.push({ name: metadata.name, offset, length });
    this.#stats.metadataCount++;
  }

  /** The open chunk, data end, the summary, the footer and the closing magic. */
  async end(): Promise<void> {
    await this.flushChunk();
    this.#records.writeDataEnd({ dataSectionCrc: crc32 ? this.#dataCrc : 0 });
    await this.#write();
    const summaryStart = this.sink.position();
    const groups: T.SummaryOffset[] = [];
    const group = (groupOpcode: number, put: () => bigint) => {
      const groupStart = summaryStart + BigInt(this.#records.length);
      const groupLength = put();
      if (groupLength > 0n) groups.push({ groupOpcode, groupStart, groupLength });
    };
    const sum =
      <V>(items: Iterable<V>, put: (v: V) => bigint) =>
      () => {
        let n = 0n;
        for (const v of items) n += put(v);
        return n;
      };
    const r = this.#records;
    const O = McapConstants.Opcode;
    group(
      O.SCHEMA,
      sum(this.#schemas.values(), (s) => r.writeSchema(s)),
    );
    group(
      O.CHANNEL,
      sum(this.#channels.values(), (c) => r.writeChannel(c)),
    );
    group(O.STATISTICS, () => r.writeStatistics(this.#stats));
    group(
      O.METADATA_INDEX,
      sum(this.#metadataIndexes, (m) => r.writeMetadataIndex(m)),
    );
    group(
      O.CHUNK_INDEX,
      sum(this.#chunkIndexes, (c) => r.writeChunkIndex(c)),
    );
    const summaryOffsetStart = summaryStart + BigInt(r.length);
    for (const g of groups) r.writeSummaryOffset(g);
    r.writeFooter({ summaryStart, summaryOffsetStart, summaryCrc: 0 });
    // The footer's CRC covers the summary up to and including the footer's fields before the CRC itself.
    const bytes = r.buffer;
    const crcEnd = bytes.byteLength - 4; // the footer is the last record; its CRC field is its last 4 bytes
    if (crc32) new DataView(bytes.buffer, bytes.byteOffset).setUint32(crcEnd, crc32(bytes.subarray(0, crcEnd)), true);
    r.writeMagic();
    await this.#write();
  }

  /** Writes what the record builder holds as part of the data section (its CRC covers them). */
  async #emitData(): Promise<void> {
    if (crc32) this.#dataCrc = crc32(this.#records.buffer, this.#dataCrc);
    await this.#write();
  }

  async #write(): Promise<void> {
    const bytes = this.#records.buffer;
    this.#records.reset();
    await this.sink.write(bytes);
  }
}
