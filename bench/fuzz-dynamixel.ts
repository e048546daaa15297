// Fuzzing `vla-sim dynamixel` (a child process) through its real pseudo-terminals: garbage and CRC-broken
// frames, many of them mutated from the most dangerous valid packets (goal writes, torque off, REBOOT, FACTORY
// RESET, an ID change, SYNC_WRITE). Between batches a real DynamixelBus pings every servo and reads its goal,
// position, torque and hardware status: all must answer at the first try and be unchanged, and the emulator's
// own count of requests must equal the valid requests sent (no garbage was taken for a request).
import { DynamixelBus } from '../drivers/dynamixel/bus.js';
import { SerialLink } from '../drivers/dynamixel/serial-link.js';
import { REG, type Register } from '../protocols/dynamixel/control-table.js';
import { InstructionWriter } from '../protocols/dynamixel/instructions.js';
import type { Rng } from '../src/util/rng.js';
import { logRecord, startChild } from './fuzz-child.js';
import { breakEveryCrc } from './fuzz-framer.js';
import { caseRng, describeCase, int, MUTATIONS, mutateBytes, pick, randomBytes } from './fuzz-mutate.js';

const IDS = [1, 2, 3, 4, 5, 6, 7, 8, 9];
const WATCHED: Register[] = [REG.goal_position, REG.present_position, REG.torque_enable, REG.hardware_error_status];
const BATCH = 50;
const writer = new InstructionWriter();

export interface DynamixelFuzzResult {
  seed: number;
  cases: number;
  crashes: number;
  bytes_sent: number;
  /** Requests the emulator handled, per arm (its stop log), and the valid requests this fuzzer sent. */
  emulator_requests: Record<string, number>;
  valid_requests: Record<string, number>;
  /** Registers that differed from their first reading (tolerance: 2 counts of Present_Position). */
  changed: string[];
  bus_retries: number;
  duration_s: number;
}

/** A packet that would change something if its CRC were right. */
function dangerous(rng: Rng): Buffer {
  const id = pick(rng, [...IDS, 0xfe]);
  const make = pick<() => Uint8Array>(rng, [
    () => writer.writeValue(id, REG.goal_position.address, 4, int(rng, 0, 4095)),
    () => writer.writeValue(id, REG.torque_enable.address, 1, 0),
    () => writer.writeValue(id, 7, 1, int(rng, 10, 200)), // ID
    () => writer.reboot(id),
    () => writer.packet(id, 0x06, Uint8Array.of(0xff)), // FACTORY_RESET
    () =>
      writer.syncWrite(
        REG.goal_position.address,
        4,
        IDS,
        IDS.map(() => int(rng, 0, 4095)),
      ),
  ]);
  return Buffer.from(make());
}

/** Case `index` of the run seeded `seed`: bytes that must change nothing. */
export function dynamixelCase(seed: number, index: number): Buffer {
  const rng = caseRng(seed, index);
  const r = rng.next();
  if (r < 0.2) return breakEveryCrc(randomBytes(rng, int(rng, 1, 300)));
  const base = dangerous(rng);
  if (r < 0.5) {
    // the packet itself with its CRC broken
    base[base.length - 1 - int(rng, 0, 1)] ^= 1 << int(rng, 0, 7);
    return breakEveryCrc(base);
  }
  return breakEveryCrc(Buffer.from(mutateBytes(rng, base, pick(rng, MUTATIONS), 4096)));
}

/** The head of a long SYNC_WRITE whose rest never comes: without the framer's stale rule it swallows the next. */
export function cutOff(seed: number, batch: number): Buffer {
  const rng = caseRng(seed, -1 - batch);
  return Buffer.from([0xff, 0xff, 0xfd, 0x00, 0xfe, 0xe8, 0x03, 0x83, ...randomBytes(rng, int(rng, 0, 40))]);
}

export async function fuzzDynamixelSerial(opts: {
  cases: number;
  seed: number;
  log?: (m: string) => void;
}): Promise<DynamixelFuzzResult> {
  const t0 = performance.now();
  const emu = await startChild('vla-sim.js', ['dynamixel', '--robot', 'aloha', '--json', '--seed', '0']);
  const ports = emu.ready.ports as Record<string, string>;
  const valid: Record<string, number> = { left: 0, right: 0 };
  const result = { seed: opts.seed, cases: opts.cases, crashes: 0, bytes_sent: 0, bus_retries: 0 };
  const changed: string[] = [];
  let last = -1;
  try {
    // let the arms settle at home before the reference reading
    await new Promise((r) => setTimeout(r, 500));
    const reference: Record<string, number[]> = {};
    for (const side of ['left', 'right']) reference[side] = await readAll(side, ports[side], valid, result);
    for (let from = 0; from < opts.cases; from += BATCH) {
      const side = (from / BATCH) % 2 === 0 ? 'left' : 'right';
      const link = await SerialLink.open(`${side} arm`, ports[side], 1_000_000);
      link.listen({ bytes: () => {}, closed: () => {} });
      for (let i = from; i < Math.min(opts.cases, from + BATCH); i++) {
        last = i;
        const bytes = dynamixelCase(opts.seed, i);
        result.bytes_sent += bytes.length;
        link.write(bytes);
      }
      // a packet cut off mid-way (a cable pulled): its LEN promises ~1000 bytes that never come
      link.write(cutOff(opts.seed, from));
      await new Promise<void>((r) => link.drain(r));
      await new Promise<void>((r) => link.close(r));
      // longer than the emulator framer's stale rule: a partial packet left by the garbage is dropped
      await new Promise((r) => setTimeout(r, 150));
      const now = await readAll(side, ports[side], valid, result);
      compare(side, reference[side], now, changed);
      if (from % 5000 === 0 && from > 0) opts.log?.(`dynamixel: ${from} cases`);
    }
    const survived = emu.alive();
    const { stderr } = await emu.stop('SIGINT');
    const stopping = logRecord(stderr, 'emulator stopping');
    const counters = (stopping?.counters ?? {}) as Record<string, { requests: number }>;
    return {
      ...result,
      crashes: survived && stopping ? 0 : 1,
      emulator_requests: { left: counters.left?.requests ?? -1, right: counters.right?.requests ?? -1 },
      valid_requests: valid,
      changed,
      duration_s: Math.round((performance.now() - t0) / 100) / 10,
    };
  } catch (err) {
    const c = last >= 0 ? describeCase(dynamixelCase(opts.seed, last)) : '-';
    throw new Error(
      `dynamixel fuzz, seed ${opts.seed}, last case ${last} (${c}): ` +
        `${(err as Error).message}; emulator alive: ${emu.alive()}; stderr: ${emu.stderr().slice(-1500)}`,
    );
  } finally {
    await emu.stop('SIGKILL');
  }
}

/** PING and the watched registers of every servo of one arm, counting the requests sent. */
export async function readAll(
  side: string,
  path: string,
  valid: Record<string, number>,
  result: { bus_retries: number },
): Promise<number[]> {
  const bus = await DynamixelBus.open({ path, name: `${side} arm`, timeout_ms: 250, retries: 3 });
  const out: number[] = [];
  try {
    for (const id of IDS) {
      await bus.ping(id);
      for (const reg of WATCHED) out.push(await bus.readRegister(id, reg));
    }
  } finally {
    result.bus_retries += bus.counters.retries;
    valid[side] += bus.counters.requests + bus.counters.retries;
    await bus.close();
  }
  return out;
}

export function compare(side: string, ref: number[], now: number[], changed: string[]): void {
  ref.forEach((v, k) => {
    const reg = WATCHED[k % WATCHED.length];
    const tolerance = reg === REG.present_position ? 2 : 0;
    if (Math.abs(now[k] - v) > tolerance)
      changed.push(`${side} ID ${IDS[Math.floor(k / WATCHED.length)]} ${reg.name}: ${v} -> ${now[k]}`);
  });
}
