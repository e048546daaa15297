import assert from 'node:assert/strict';
import { test } from 'node:test';
import { describeStatusError, REG, STATUS_ALERT_BIT, STATUS_ERROR } from '../protocols/dynamixel/control-table.js';
import { crc16 } from '../protocols/dynamixel/crc.js';
import { PacketFramer } from '../protocols/dynamixel/framer.js';
import { InstructionWriter } from '../protocols/dynamixel/instructions.js';
import {
  encodePacket,
  encodeStatus,
  INSTRUCTION,
  type Packet,
  stuffInto,
  unstuffInto,
} from '../protocols/dynamixel/packet.js';

const hex = (b: Uint8Array) =>
  Buffer.from(b)
    .toString('hex')
    .toUpperCase()
    .replace(/(..)(?!$)/g, '$1 ');

/** A framer that keeps copies of what it hands out. */
function collecting() {
  const packets: { id: number; instruction: number; error: number; data: number[] }[] = [];
  const crcIds: number[] = [];
  const framer = new PacketFramer(
    (p: Packet) => packets.push({ id: p.id, instruction: p.instruction, error: p.error, data: [...p.data] }),
    (id) => crcIds.push(id),
  );
  return { framer, packets, crcIds };
}

test('golden vectors: PING to ID 1 and READ Present_Position from ID 1', () => {
  const w = new InstructionWriter();
  assert.equal(hex(w.ping(1)), 'FF FF FD 00 01 03 00 01 19 4E');
  assert.equal(hex(w.read(1, REG.present_position.address, 4)), 'FF FF FD 00 01 07 00 02 84 00 04 00 1D 15');
  assert.equal(hex(encodePacket(1, INSTRUCTION.ping)), 'FF FF FD 00 01 03 00 01 19 4E');
  assert.equal(crc16(Uint8Array.from([0xff, 0xff, 0xfd, 0x00, 0x01, 0x03, 0x00, 0x01])), 0x4e19);
});

test('SYNC_READ, SYNC_WRITE and BULK_READ parameter layouts', () => {
  const w = new InstructionWriter();
  const sr = w.syncRead(132, 4, [1, 2, 3]);
  assert.equal(hex(sr.subarray(0, 15)), 'FF FF FD 00 FE 0A 00 82 84 00 04 00 01 02 03');
  const sw = Buffer.from(w.syncWrite(116, 4, [1, 2], [2048, -1]));
  // addr 116, len 4, then [ID, 4 bytes LE] per motor; -1 is FF FF FF FF
  assert.equal(hex(sw.subarray(7, sw.length - 2)), '83 74 00 04 00 01 00 08 00 00 02 FF FF FF FF');
  assert.equal(sw[5] | (sw[6] << 8), sw.length - 7);
  const br = Buffer.from(
    w.bulkRead([
      { id: 1, address: 132, length: 4 },
      { id: 9, address: 70, length: 1 },
    ]),
  );
  assert.equal(hex(br.subarray(7, br.length - 2)), '92 01 84 00 04 00 09 46 00 01 00');
  assert.throws(() => w.syncWrite(116, 4, [1, 2], [5]), /2 IDs but 1 values/);
});

test('byte stuffing: FF FF FD in a payload is sent as FF FF FD FD and restored', () => {
  const payloads = [
    [0xff, 0xff, 0xfd],
    [0x01, 0xff, 0xff, 0xfd, 0x02],
    [0xff, 0xff, 0xfd, 0xfd],
    [0xff, 0xff, 0xfd, 0xff, 0xff, 0xfd],
    [0xff, 0xff, 0xff, 0xfd, 0x00],
    [0xfd, 0xfd, 0xff],
  ];
  for (const p of payloads) {
    const src = Uint8Array.from(p);
    const stuffed = new Uint8Array(32);
    const n = stuffInto(src, src.length, stuffed, 0);
    const back = new Uint8Array(32);
    const m = unstuffInto(stuffed, 0, n, back);
    assert.deepEqual([...back.subarray(0, m)], p, `round trip of ${hex(src)} via ${hex(stuffed.subarray(0, n))}`);
  }
  // the WRITE of FF FF FD to Goal_Position: LEN counts the stuffing byte, CRC covers the stuffed bytes
  const pkt = encodePacket(1, INSTRUCTION.write, [0x74, 0x00, 0xff, 0xff, 0xfd, 0x00]);
  assert.equal(hex(pkt.subarray(0, pkt.length - 2)), 'FF FF FD 00 01 0A 00 03 74 00 FF FF FD FD 00');
  assert.equal(crc16(pkt, 0, pkt.length - 2), pkt[pkt.length - 2] | (pkt[pkt.length - 1] << 8));
  const { framer, packets } = collecting();
  framer.push(pkt);
  assert.deepEqual(packets, [
    { id: 1, instruction: INSTRUCTION.write, error: 0, data: [0x74, 0x00, 0xff, 0xff, 0xfd, 0x00] },
  ]);
});

test('status packets: error byte, hardware alert bit, data', () => {
  const { framer, packets } = collecting();
  framer.push(encodeStatus(7, STATUS_ALERT_BIT | STATUS_ERROR.access, [1, 2]));
  framer.push(encodeStatus(3, 0, [0x00, 0x08, 0x00, 0x00]));
  assert.deepEqual(packets, [
    { id: 7, instruction: 0x55, error: 0x87, data: [1, 2] },
    { id: 3, instruction: 0x55, error: 0, data: [0, 8, 0, 0] },
  ]);
  assert.equal(describeStatusError(0x87), 'access error + hardware alert');
  assert.equal(describeStatusError(STATUS_ERROR.crc), 'CRC error');
});

test('framing: byte-by-byte, split anywhere, and several packets in one read', () => {
  const stream = Buffer.concat([
    encodeStatus(1, 0, [1, 2, 3, 4]),
    encodeStatus(2, 0, [0xff, 0xff, 0xfd, 0x00]),
    encodeStatus(3, 0x80, []),
  ]);
  const want = [
    { id: 1, instruction: 0x55, error: 0, data: [1, 2, 3, 4] },
    { id: 2, instruction: 0x55, error: 0, data: [0xff, 0xff, 0xfd, 0x00] },
    { id: 3, instruction: 0x55, error: 0x80, data: [] },
  ];
  for (let cut = 1; cut < stream.length; cut++) {
    const { framer, packets } = collecting();
    framer.push(stream.subarray(0, cut));
    framer.push(stream.subarray(cut));
    assert.deepEqual(packets, want, `split at ${cut}`);
  }
  const one = collecting();
  for (const b of stream) one.framer.push(Uint8Array.of(b));
  assert.deepEqual(one.packets, want);
  const merged = collecting();
  merged.framer.push(stream);
  assert.deepEqual(merged.packets, want);
  assert.equal(merged.framer.buffered, 0);
  // as the serial link hands bytes over: the first n bytes of one reused buffer, stale bytes after them
  const reused = collecting();
  const buf = new Uint8Array(64).fill(0xff);
  for (let at = 0; at < stream.length; at += 7) {
    const n = Math.min(7, stream.length - at);
    buf.set(stream.subarray(at, at + n));
    reused.framer.push(buf, n);
  }
  assert.deepEqual(reused.packets, want);
});

test('packets handed out are views reused per length, and hold the right bytes each time', () => {
  const views: Uint8Array[] = [];
  const copies: number[][] = [];
  const framer = new PacketFramer((p) => {
    views.push(p.data);
    copies.push([...p.data]);
  });
  framer.push(encodeStatus(1, 0, [1, 2, 3, 4]));
  framer.push(encodeStatus(2, 0, [5, 6, 7, 8]));
  framer.push(encodeStatus(3, 0, [9]));
  assert.deepEqual(copies, [[1, 2, 3, 4], [5, 6, 7, 8], [9]]);
  assert.equal(views[0], views[1], 'the same view for the same data length');
  assert.notEqual(views[1], views[2]);
  const w = new InstructionWriter();
  const a = w.read(1, REG.present_position.address, 4);
  const hexA = hex(a);
  assert.equal(w.read(2, REG.present_position.address, 4), a, 'same length, same view');
  assert.notEqual(hex(a), hexA, 'rewritten for ID 2');
});

test('framing: garbage, false headers and a bad CRC are skipped, and the next packet is found', () => {
  const good = encodeStatus(4, 0, [9, 8, 7, 6]);
  const bad = Buffer.from(encodeStatus(5, 0, [1, 1, 1, 1]));
  bad[bad.length - 1] ^= 0xff;
  const falseHeader = Buffer.from([0xff, 0xff, 0xfd, 0x00, 0x06, 0xff, 0xff]); // impossible LEN
  const { framer, packets, crcIds } = collecting();
  framer.push(
    Buffer.concat([Buffer.from([0x00, 0x13, 0xff, 0xfe]), bad, falseHeader, Buffer.from([0xff, 0xff]), good]),
  );
  assert.deepEqual(
    packets.map((p) => p.id),
    [4],
  );
  assert.deepEqual(crcIds, [5]);
  assert.equal(framer.counters.crc_errors, 1);
  assert.ok(framer.counters.garbage_bytes > 10);
  // a broken packet split across reads, then a good one
  const again = collecting();
  again.framer.push(bad.subarray(0, 6));
  again.framer.push(Buffer.concat([bad.subarray(6), good]));
  assert.deepEqual(
    again.packets.map((p) => p.id),
    [4],
  );
  // reset() forgets a half packet
  const half = collecting();
  half.framer.push(good.subarray(0, 9));
  half.framer.reset();
  half.framer.push(good);
  assert.deepEqual(
    half.packets.map((p) => p.id),
    [4],
  );
});

test('framing survives a long run of noise without losing the packet after it', () => {
  const noise = Buffer.alloc(20_000);
  for (let i = 0; i < noise.length; i++) noise[i] = (i * 7919) & 0xff;
  const { framer, packets } = collecting();
  framer.push(Buffer.concat([noise, encodeStatus(9, 0, [1])]));
  assert.deepEqual(packets.at(-1), { id: 9, instruction: 0x55, error: 0, data: [1] });
});
