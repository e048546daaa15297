// The servos of one bus (one arm) answering instruction packets as a daisy chain of X-series servos:
// unicast instructions get one status packet from the addressed servo; SYNC_READ and BULK_READ get one
// per listed ID, in the listed order; FAST_SYNC_READ gets one packet that all listed servos fill in turn;
// broadcasts and SYNC_WRITE get none. A servo also obeys writes sent to its Secondary_ID but never answers
// for it. Status_Return_Level decides what a servo answers: 0 only PING, 1 also the reads, 2 everything.
// REBOOT is answered, then the servo restarts and is deaf and mute while it boots (servo.ts).
// Injected faults apply to every status packet.

import { REG, STATUS_ERROR } from '../../protocols/dynamixel/control-table.js';
import { InstructionWriter } from '../../protocols/dynamixel/instructions.js';
import {
  BROADCAST_ID,
  type FastSyncBlock,
  fastSyncParams,
  INSTRUCTION,
  MAX_LENGTH_FIELD,
  type Packet,
  readIntLE,
} from '../../protocols/dynamixel/packet.js';
import type { FaultKnobs } from '../../protocols/sim-link/fault-knobs.js';
import { monotonicMs } from '../../src/util/clock.js';
import { Rng } from '../../src/util/rng.js';
import type { EmulatedServo, ServoSafetyCounters } from './servo.js';

export interface ChainCounters {
  requests: number;
  replies: number;
  dropped_replies: number;
  corrupted_replies: number;
  bad_requests: number;
}

const REPLY_BUFFER_BYTES = 4096;

/** What an instruction is, for Status_Return_Level: 0 answers only 'ping', 1 also 'read', 2 everything. */
type ReplyKind = 'ping' | 'read' | 'other';
const MIN_RETURN_LEVEL: Record<ReplyKind, number> = { ping: 0, read: 1, other: 2 };

export class ServoChain {
  readonly counters: ChainCounters = {
    requests: 0,
    replies: 0,
    dropped_replies: 0,
    corrupted_replies: 0,
    bad_requests: 0,
  };
  private readonly writer = new InstructionWriter();
  /** Room for a read of the largest table (an XM's 662 bytes) and more: a READ may ask for any length. */
  private readonly data = new Uint8Array(MAX_LENGTH_FIELD);
  private readonly reply = Buffer.alloc(REPLY_BUFFER_BYTES);
  private replyLength = 0;
  private readonly rng: Rng;
  /** When the packet being handled came (servos still booting then neither answer nor obey). */
  private now_ms = 0;

  constructor(
    /** Used to look up silent IDs in the fault knobs. */
    readonly name: string,
    readonly servos: EmulatedServo[],
    private readonly faults: () => FaultKnobs,
    private readonly send: (bytes: Buffer) => void,
    seed = 1,
  ) {
    this.rng = new Rng(seed);
  }

  /** The servos' safety counters, summed (the goal jump: the largest). */
  safetyCounters(): ServoSafetyCounters {
    const out: ServoSafetyCounters = {
      eeprom_writes: 0,
      torque_off_writes: 0,
      torque_on_writes: 0,
      max_goal_jump_at_torque_on_ticks: 0,
      goal_writes: 0,
      goal_limit_errors: 0,
    };
    for (const s of this.servos) {
      out.goal_limit_errors += s.counters.goal_limit_errors;
      out.eeprom_writes += s.counters.eeprom_writes;
      out.torque_off_writes += s.counters.torque_off_writes;
      out.torque_on_writes += s.counters.torque_on_writes;
      out.goal_writes += s.counters.goal_writes;
      out.max_goal_jump_at_torque_on_ticks = Math.max(
        out.max_goal_jump_at_torque_on_ticks,
        s.counters.max_goal_jump_at_torque_on_ticks,
      );
    }
    return out;
  }

  /** Handle one instruction packet; replies are sent in one write (a real bus delivers them back to back). */
  handle(p: Packet): void {
    this.counters.requests++;
    this.replyLength = 0;
    this.now_ms = monotonicMs();
    const d = p.data;
    switch (p.instruction) {
      case INSTRUCTION.ping:
        for (const s of this.addressed(p.id))
          this.status(
            s,
            0,
            [s.get(REG.model_number) & 0xff, s.get(REG.model_number) >> 8, s.get(REG.firmware_version)],
            3,
            'ping',
          );
        break;
      case INSTRUCTION.read: {
        const s = this.primary(p.id);
        if (!s) break;
        if (d.length !== 4) {
          this.bad(s, STATUS_ERROR.data_length, 'read');
          break;
        }
        this.readInto(s, readIntLE(d, 0, 2), readIntLE(d, 2, 2));
        break;
      }
      case INSTRUCTION.write: {
        if (d.length < 3) {
          const s = this.primary(p.id);
          if (s) this.bad(s, STATUS_ERROR.data_length);
          break;
        }
        const address = readIntLE(d, 0, 2);
        const body = d.subarray(2);
        let err = 0;
        for (const s of this.obeying(p.id)) {
          const e = s.write(address, body);
          if (s.id === p.id) err = e;
        }
        const s = this.primary(p.id);
        if (s) this.status(s, err, []);
        break;
      }
      case INSTRUCTION.sync_read: {
        if (p.id !== BROADCAST_ID || d.length < 5) {
          this.counters.bad_requests++;
          break;
        }
        const address = readIntLE(d, 0, 2),
          length = readIntLE(d, 2, 2);
        for (let i = 4; i < d.length; i++) {
          const s = this.primary(d[i]);
          if (s) this.readInto(s, address, length);
        }
        break;
      }
      case INSTRUCTION.fast_sync_read:
        this.fastSyncRead(p);
        break;
      case INSTRUCTION.reboot: {
        // the answer goes out first (its alert bit still set), then the servo restarts
        const s = this.primary(p.id);
        if (s) this.status(s, 0, []);
        for (const t of this.addressed(p.id)) t.reboot(this.now_ms);
        break;
      }
      case INSTRUCTION.sync_write: {
        if (p.id !== BROADCAST_ID || d.length < 5) {
          this.counters.bad_requests++;
          break;
        }
        const address = readIntLE(d, 0, 2),
          length = readIntLE(d, 2, 2);
        if (length === 0 || (d.length - 4) % (length + 1) !== 0) {
          this.counters.bad_requests++;
          break;
        }
        for (let at = 4; at < d.length; at += length + 1) {
          const body = d.subarray(at + 1, at + 1 + length);
          for (const s of this.obeying(d[at])) s.write(address, body);
        }
        break;
      }
      case INSTRUCTION.bulk_read: {
        if (p.id !== BROADCAST_ID || d.length % 5 !== 0) {
          this.counters.bad_requests++;
          break;
        }
        for (let at = 0; at < d.length; at += 5) {
          const s = this.primary(d[at]);
          if (s) this.readInto(s, readIntLE(d, at + 1, 2), readIntLE(d, at + 3, 2));
        }
        break;
      }
      default: {
        const s = this.primary(p.id);
        if (s) this.bad(s, STATUS_ERROR.instruction);
      }
    }
    this.flush();
  }

  private readInto(s: EmulatedServo, address: number, length: number): void {
    const err = s.read(address, length, this.data, 0);
    if (err) this.bad(s, err, 'read');
    else this.status(s, 0, this.data, length, 'read');
  }

  /** One status packet (ID 0xFE) that the listed servos fill in turn; a servo that stays silent is left out. */
  private fastSyncRead(p: Packet): void {
    const d = p.data;
    if (p.id !== BROADCAST_ID || d.length < 5) {
      this.counters.bad_requests++;
      return;
    }
    const address = readIntLE(d, 0, 2),
      length = readIntLE(d, 2, 2);
    const f = this.faults();
    const blocks: FastSyncBlock[] = [];
    for (let i = 4; i < d.length; i++) {
      const s = this.primary(d[i]);
      if (!s || !this.answers(s, 'read') || f.silent_ids[this.name]?.includes(s.id)) continue;
      const data = new Uint8Array(length);
      const err = s.read(address, length, data, 0);
      if (err) this.counters.bad_requests++;
      blocks.push({ id: s.id, error: err | s.statusByte(), data });
    }
    if (blocks.length === 0) return;
    this.append(this.writer.packet(BROADCAST_ID, INSTRUCTION.status, fastSyncParams(blocks, length)));
  }

  private bad(s: EmulatedServo, code: number, kind: ReplyKind = 'other'): void {
    this.counters.bad_requests++;
    this.status(s, code, [], 0, kind);
  }

  private answers(s: EmulatedServo, kind: ReplyKind): boolean {
    return s.get(REG.status_return_level) >= MIN_RETURN_LEVEL[kind];
  }

  /** Append one status packet from servo `s` to the reply, unless its return level or a fault says no. */
  private status(
    s: EmulatedServo,
    error: number,
    data: ArrayLike<number>,
    n = data.length,
    kind: ReplyKind = 'other',
  ): void {
    if (!this.answers(s, kind)) return;
    if (this.faults().silent_ids[this.name]?.includes(s.id)) return;
    const bytes = data instanceof Uint8Array ? data : Uint8Array.from(data);
    this.append(this.writer.status(s.id, error | s.statusByte(), bytes, n));
  }

  /** Add a status packet to the reply, unless a fault drops it; a fault may corrupt its CRC. */
  private append(pkt: Buffer): void {
    const f = this.faults();
    if (f.drop_rate > 0 && this.rng.next() < f.drop_rate) {
      this.counters.dropped_replies++;
      return;
    }
    if (this.replyLength + pkt.length > REPLY_BUFFER_BYTES) return;
    pkt.copy(this.reply, this.replyLength);
    if (f.crc_error_rate > 0 && this.rng.next() < f.crc_error_rate) {
      this.reply[this.replyLength + pkt.length - 1] ^= 0x5a;
      this.counters.corrupted_replies++;
    }
    this.replyLength += pkt.length;
    this.counters.replies++;
  }

  private flush(): void {
    if (this.replyLength === 0) return;
    // a copy: the reply buffer is reused by the next request while this one may still be queued
    const out = Buffer.from(this.reply.subarray(0, this.replyLength));
    const delay = this.faults().reply_delay_ms;
    if (delay > 0) setTimeout(() => this.send(out), delay);
    else this.send(out);
  }

  /** The servo with this ID, unless it is booting (then nothing on the bus answers to it). */
  private primary(id: number): EmulatedServo | undefined {
    return this.servos.find((s) => s.id === id && s.awake(this.now_ms));
  }

  /** Servos that answer a PING to `id` (all of them for a broadcast ping). */
  private addressed(id: number): EmulatedServo[] {
    return this.servos.filter((s) => (id === BROADCAST_ID || s.id === id) && s.awake(this.now_ms));
  }

  /** Servos that apply a write to `id`: the primary, its shadows (Secondary_ID), or all for a broadcast. */
  private obeying(id: number): EmulatedServo[] {
    return this.servos.filter(
      (s) => (id === BROADCAST_ID || s.id === id || s.secondaryId === id) && s.awake(this.now_ms),
    );
  }
}
