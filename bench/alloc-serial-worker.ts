// The ALOHA serial cycle's allocation where vla-run runs it: in a worker thread (the control thread's
// serial path), against the Dynamixel emulator in its own process, at 50 Hz for a minute: every tick
// reads the last state and commands a pose, as the control loop does, from one setInterval. Then the
// floor under it: the same minute with only the Node I/O a tick cannot do without (per arm one request
// written, its 9 replies read, one attempt timer), no bus or driver code. Posts the GCs of each minute
// and the young-generation bytes per tick (null when a GC emptied the young generation meanwhile).
import { constants, PerformanceObserver } from 'node:perf_hooks';
import { getHeapSpaceStatistics } from 'node:v8';
import { parentPort } from 'node:worker_threads';
import { newJointState } from '../drivers/driver.js';
import { SerialLink } from '../drivers/dynamixel/serial-link.js';
import { ALOHA_ARM_SIDES, ALOHA_READ_IDS, type AlohaSide } from '../protocols/aloha/motor-map.js';
import { REG } from '../protocols/dynamixel/control-table.js';
import { InstructionWriter } from '../protocols/dynamixel/instructions.js';
import { ReusableTimer } from '../src/util/reusable-timer.js';
import { CONTROL_HZ, cycle, PERIOD_MS, poseAction, withEmulatedRig } from './emulated-aloha-rig.js';

export const SERIAL_TICKS = 60 * CONTROL_HZ;
/** Back-to-back cycles first, so that the measured minute sees optimised code (V8 tiers up by use). */
const WARMUP_CYCLES = 5000;
/** A status packet with 4 data bytes: header 4, ID, LEN 2, instruction, error, data 4, CRC 2. */
const REPLY_BYTES = 15;
const youngBytes = () => getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')!.space_used_size;

interface MinuteGc {
  ticks: number;
  scavenges: number;
  other_gcs: number;
  young_bytes_per_tick: number | null;
}

/** Call `tick` at CONTROL_HZ for SERIAL_TICKS ticks; the GCs meanwhile. */
async function gcOverTicks(tick: () => void): Promise<MinuteGc> {
  let scavenges = 0,
    other = 0;
  const gcWatch = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      if ((e as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR) scavenges++;
      else other++;
    }
  });
  gcWatch.observe({ entryTypes: ['gc'] });
  const before = youngBytes();
  let ticks = 0;
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      tick();
      if (++ticks === SERIAL_TICKS) {
        clearInterval(timer);
        resolve();
      }
    }, PERIOD_MS);
  });
  const grown = youngBytes() - before;
  await new Promise((r) => setTimeout(r, 50)); // GC entries are delivered asynchronously
  gcWatch.disconnect();
  const young_bytes_per_tick = scavenges + other === 0 ? Math.round(grown / SERIAL_TICKS) : null;
  return { ticks: SERIAL_TICKS, scavenges, other_gcs: other, young_bytes_per_tick };
}

/** Per arm and tick: one SYNC_READ written, its replies counted, an attempt timer armed and disarmed. */
async function nodeIoFloor(ports: Record<AlohaSide, string>): Promise<MinuteGc> {
  const request = Uint8Array.from(
    new InstructionWriter().syncRead(REG.present_position.address, REG.present_position.size, ALOHA_READ_IDS),
  );
  const want = ALOHA_READ_IDS.length * REPLY_BYTES;
  const arms = await Promise.all(
    ALOHA_ARM_SIDES.map(async (side) => {
      const link = await SerialLink.open(side, ports[side], 1_000_000);
      const arm = { link, got: 0, timer: new ReusableTimer(() => {}), answered: () => {} };
      link.listen({
        bytes: (_, n) => {
          arm.got += n;
          if (arm.got < want) return;
          arm.timer.disarm();
          arm.answered();
        },
        closed: () => {},
      });
      return arm;
    }),
  );
  const tick = () => {
    for (const a of arms) {
      a.got = 0;
      a.timer.arm(15);
      a.link.write(request);
    }
  };
  // warmed up as the driver was: back to back, each tick once both arms are answered
  for (let i = 0; i < WARMUP_CYCLES; i++) {
    const answered = arms.map((a) => new Promise<void>((resolve) => (a.answered = resolve)));
    tick();
    await Promise.all(answered);
  }
  for (const a of arms) a.answered = () => {};
  const out = await gcOverTicks(tick);
  for (const a of arms) {
    a.timer.dispose();
    await new Promise<void>((resolve) => a.link.close(resolve));
  }
  return out;
}

const { result } = await withEmulatedRig(0, null, async (d, start, ports) => {
  const action = poseAction(start);
  for (let i = 0; i < WARMUP_CYCLES; i++) await cycle(d, action);
  const state = newJointState(d.description);
  const lateBefore = d.late_commands;
  let notOk = 0;
  const driver = await gcOverTicks(() => {
    if (d.read(state) !== 'ok') notOk++;
    d.write(action);
  });
  const late_commands = d.late_commands - lateBefore;
  await d.close();
  const node_io_floor = await nodeIoFloor(ports);
  return { hz: CONTROL_HZ, driver: { ...driver, ticks_not_ok: notOk, late_commands }, node_io_floor };
});
parentPort!.postMessage(result);
