// Instruction packets, written into one preallocated buffer per writer: the control loop sends one
// SYNC_READ and one SYNC_WRITE per arm every 20 ms and should not feed the garbage collector to do it.
// A returned packet is a view of that buffer, valid until the writer's next call.
import { BROADCAST_ID, encodePacketInto, INSTRUCTION, MAX_PACKET_BYTES, PrefixViews, writeIntLE } from './packet.js';

export interface BulkReadEntry {
  id: number;
  address: number;
  length: number;
}

export class InstructionWriter {
  private readonly out = Buffer.alloc(MAX_PACKET_BYTES);
  private readonly params = new Uint8Array(MAX_PACKET_BYTES);
  private readonly scratch = new Uint8Array(MAX_PACKET_BYTES);
  private readonly packets = new PrefixViews(this.out);

  ping(id: number): Buffer {
    return this.finish(id, INSTRUCTION.ping, 0);
  }

  read(id: number, address: number, length: number): Buffer {
    this.u16(0, address);
    this.u16(2, length);
    return this.finish(id, INSTRUCTION.read, 4);
  }

  /** WRITE of raw bytes. */
  write(id: number, address: number, data: ArrayLike<number>): Buffer {
    this.u16(0, address);
    for (let i = 0; i < data.length; i++) this.params[2 + i] = data[i];
    return this.finish(id, INSTRUCTION.write, 2 + data.length);
  }

  /** WRITE of one little-endian integer register. */
  writeValue(id: number, address: number, size: 1 | 2 | 4, value: number): Buffer {
    this.u16(0, address);
    writeIntLE(this.params, 2, size, value);
    return this.finish(id, INSTRUCTION.write, 2 + size);
  }

  syncRead(address: number, length: number, ids: ArrayLike<number>): Buffer {
    return this.syncReadLike(INSTRUCTION.sync_read, address, length, ids);
  }

  /** FAST_SYNC_READ: as SYNC_READ, but the servos answer together in one status packet (fast-sync-reply.ts). */
  fastSyncRead(address: number, length: number, ids: ArrayLike<number>): Buffer {
    return this.syncReadLike(INSTRUCTION.fast_sync_read, address, length, ids);
  }

  /** REBOOT: the servo answers, then restarts (RAM back to defaults, alarm cleared, torque off). */
  reboot(id: number): Buffer {
    return this.finish(id, INSTRUCTION.reboot, 0);
  }

  /** Any packet: instruction and params[0, n) as given (e.g. a FAST_SYNC_READ's combined status). */
  packet(id: number, instruction: number, params: Uint8Array, n = params.length): Buffer {
    this.params.set(params.subarray(0, n), 0);
    return this.finish(id, instruction, n);
  }

  private syncReadLike(instruction: number, address: number, length: number, ids: ArrayLike<number>): Buffer {
    this.u16(0, address);
    this.u16(2, length);
    for (let i = 0; i < ids.length; i++) this.params[4 + i] = ids[i];
    return this.finish(BROADCAST_ID, instruction, 4 + ids.length);
  }

  /** SYNC_WRITE of one integer register: values[i] goes to ids[i]. */
  syncWrite(address: number, size: 1 | 2 | 4, ids: ArrayLike<number>, values: ArrayLike<number>): Buffer {
    if (values.length < ids.length) throw new Error(`SYNC_WRITE: ${ids.length} IDs but ${values.length} values`);
    this.u16(0, address);
    this.u16(2, size);
    let at = 4;
    for (let i = 0; i < ids.length; i++) {
      this.params[at] = ids[i];
      writeIntLE(this.params, at + 1, size, values[i]);
      at += 1 + size;
    }
    return this.finish(BROADCAST_ID, INSTRUCTION.sync_write, at);
  }

  bulkRead(entries: readonly BulkReadEntry[]): Buffer {
    let at = 0;
    for (const e of entries) {
      this.params[at] = e.id;
      this.u16(at + 1, e.address);
      this.u16(at + 3, e.length);
      at += 5;
    }
    return this.finish(BROADCAST_ID, INSTRUCTION.bulk_read, at);
  }

  /** A status packet (the emulator's replies): ERR then data[0, n). */
  status(id: number, error: number, data: Uint8Array, n = data.length): Buffer {
    this.params[0] = error;
    this.params.set(data.subarray(0, n), 1);
    return this.finish(id, INSTRUCTION.status, 1 + n);
  }

  private u16(at: number, v: number): void {
    this.params[at] = v & 0xff;
    this.params[at + 1] = (v >> 8) & 0xff;
  }

  private finish(id: number, instruction: number, paramsLength: number): Buffer {
    const n = encodePacketInto(this.out, id, instruction, this.params, paramsLength, this.scratch);
    return this.packets.get(n);
  }
}
