// The fault matrix: for each fault (row) and robot path (column), what is injected, where, and what must
// happen. This table is the documentation (`node dist/test/e2e/fault-matrix/markdown.js` prints it for the
// README) and the test list: sim.test.ts, ur.test.ts and aloha.test.ts run every `run` cell of their column
// and fail when a `run` cell has no test. Every cell that runs checks: a hold within one tick of the fault
// taking effect, a clear error naming the cause, 0 commands outside the profile's limits or larger than its
// per-tick step (on what the endpoint received, or the recording for the sim), and either a resume with a
// fresh state and chunk or a clean exit with the right code and a summary.

export const PATHS = ['sim', 'ur', 'aloha', 'remote'] as const;
export type Path = (typeof PATHS)[number];

/** run: a test in this folder; see: an existing test elsewhere; na: why it does not apply (no cell is left open). */
export type Cell = { run: true } | { see: string } | { na: string };

export interface Row {
  id: string;
  fault: string;
  /** How it is injected. */
  how: string;
  /** What must happen. */
  expect: string;
  cells: Record<Path, Cell>;
}

const RUN = { run: true } as const;
const ROS = 'test/e2e/vla-run-ros.test.ts';
const ALOHA = 'test/e2e/vla-run-aloha.test.ts';
/** The remote column is vla-run on the embedded sim with its policy served by vla-serve in another process. */
const SIM_SIDE = 'the remote column drives the embedded sim (its robot side is the sim column)';
/**
 * A fault of the chunk a policy returns: src/runtime/episode/engine.ts screens every chunk (chunkProblem) before
 * it reaches the action ring, on every path, and a rejected chunk stops the run like any engine stop.
 */
const SCREENED = (also: string) =>
  ({
    see:
      'fault-matrix/sim.test.ts: the chunk is screened by src/runtime/episode/engine.ts before the ring, whatever ' +
      `the driver; an engine stop reaching this robot: ${also}`,
  }) as const;

export const TABLE: Row[] = [
  {
    id: 'driver-disconnect',
    fault: 'driver disconnect + reconnect',
    how: 'UR: the endpoint restarted within --fault-timeout; ALOHA: every ID of one arm silent for 200 ms',
    expect: 'hold (driver fault), reconnect, resume from a fresh state and chunk; exit 0',
    cells: {
      sim: { na: 'the embedded sim steps inside the control thread: there is no connection to lose' },
      ur: { see: `${ROS}: endpoint restarted within the timeout: hold, reconnect, resume` },
      aloha: RUN,
      remote: { na: `${SIM_SIDE}; the link to the server is the policy-server-killed row` },
    },
  },
  {
    id: 'endpoint-restart',
    fault: 'endpoint stopped for good',
    how: 'the endpoint is stopped mid-motion and stays down (remote: vla-serve killed)',
    expect: 'hold, exit 1 after --fault-timeout naming the driver fault, summary',
    cells: {
      sim: { na: 'the embedded sim is part of vla-run: it cannot stop while vla-run runs' },
      ur: { see: `${ROS}: endpoint stopped mid-run: the robot holds, exit 1 after the timeout` },
      aloha: { see: 'fault-matrix/aloha.test.ts, port-vanishes: the emulator killed for good, both ports gone' },
      remote: RUN,
    },
  },
  {
    id: 'stale-state',
    fault: 'stale state (the link stays up)',
    how: 'UR: cell knob joint_states_paused for 600 ms; ALOHA: sim link reply_delay_ms 25 (> a tick) for 500 ms',
    expect: 'no command while the state is stale, resume with a fresh chunk; exit 0',
    cells: {
      sim: { na: 'the control thread reads the embedded sim itself, every tick: its state cannot be old' },
      ur: RUN,
      aloha: RUN,
      remote: { na: SIM_SIDE },
    },
  },
  {
    id: 'crc-burst',
    fault: 'serial CRC burst',
    how: 'sim link crc_error_rate 0.5 for 500 ms',
    expect: 'retries, holds while reads fail, resume; exit 0; every command inside the limits',
    cells: {
      sim: { na: 'no serial bus: the sim is read in memory' },
      ur: { na: 'no serial bus: rosbridge is JSON over TCP; malformed frames: fuzz-rosbridge.test.ts' },
      aloha: RUN,
      remote: { na: `${SIM_SIDE}; the server link is ZeroMQ over TCP, malformed frames: fuzz-vla-serve.test.ts` },
    },
  },
  {
    id: 'dropped-replies',
    fault: 'dropped status replies',
    how: 'sim link drop_rate 0.5 for 500 ms (a servo silent for good: vla-run-aloha.test.ts, exit 1 naming it)',
    expect: 'retries and holds while replies are lost, resume; exit 0',
    cells: {
      sim: { na: 'no serial bus: the sim is read in memory' },
      ur: { na: 'TCP loses no single message: a lost /joint_states stream is stale-state, a lost link disconnect' },
      aloha: RUN,
      remote: { na: `${SIM_SIDE}; ZeroMQ over TCP loses no single reply: a silent server is the endpoint rows` },
    },
  },
  {
    id: 'hardware-alert',
    fault: 'servo hardware alert',
    how: 'sim link alarm (overload) on one servo',
    expect: 'hold at once, exit 1 naming arm and ID without waiting for --fault-timeout',
    cells: {
      sim: { na: 'the embedded sim has no servo electronics to raise an alert' },
      ur: { na: `a UR has no Dynamixel servos; its own stop (program stopped) is in ${ROS}` },
      aloha: { see: `${ALOHA}: a hardware alert mid-run (and servo-reboot.test.ts: the guided recovery)` },
      remote: { na: SIM_SIDE },
    },
  },
  {
    id: 'port-vanishes',
    fault: 'port vanishes (USB unplug)',
    how: 'the emulator is killed (SIGKILL): its pseudo-terminals vanish, as a pulled USB hub',
    expect: 'hold, exit 1 after --fault-timeout naming the arm, the port and the error; summary',
    cells: {
      sim: { na: 'no port: the sim is in memory' },
      ur: { na: "no serial port: a UR's pulled network cable drops the connection, the endpoint rows" },
      aloha: RUN,
      remote: { na: `${SIM_SIDE}; a pulled cable to the server is the policy-server-killed row` },
    },
  },
  {
    id: 'worker-crash',
    fault: 'inference worker crash',
    how: 'VLA_INJECT_FAULTS=worker-crash: process.exit in the ONNX worker thread (in vla-serve: remote)',
    expect: 'hold, exit 1, fault names the worker and its exit code',
    cells: {
      sim: RUN,
      ur: RUN,
      aloha: {
        see:
          'fault-matrix/sim.test.ts: the worker and the engine that stops on its crash live in vla-run whatever the ' +
          'driver; an engine stop reaching the arms: fault-matrix/aloha.test.ts signals',
      },
      remote: RUN,
    },
  },
  {
    id: 'nan-chunk',
    fault: 'NaN / Inf chunk',
    how: 'VLA_INJECT_FAULTS=nan-chunk / inf-chunk: one value of a chunk (in vla-serve: remote)',
    expect: 'chunk rejected before the buffer, hold, exit 1 naming the value; nothing unsafe sent',
    cells: { sim: RUN, ur: RUN, aloha: SCREENED('fault-matrix/aloha.test.ts signals'), remote: RUN },
  },
  {
    id: 'wrong-robot-chunk',
    fault: 'chunk for another robot',
    how: 'VLA_INJECT_FAULTS=wrong-robot-chunk: 14 values per action for a 7-dim robot; remote: a UR5e model served',
    expect: 'rejected, hold, exit 1 naming expected vs found dimension; remote: refused at connect, exit 2',
    cells: {
      sim: RUN,
      ur: SCREENED('fault-matrix/ur.test.ts nan-chunk'),
      aloha: SCREENED('fault-matrix/aloha.test.ts signals'),
      remote: RUN,
    },
  },
  {
    id: 'camera-freeze',
    fault: 'camera freezes',
    how: 'sim: VLA_INJECT_FAULTS=camera-freeze; UR: cell knob cameras_paused; ALOHA: sim link knob cameras_paused',
    expect: 'no inference on stale frames, underrun holds, resume; the long one: exit 1 naming the camera',
    cells: {
      sim: RUN,
      ur: RUN,
      aloha: RUN,
      remote: { na: `${SIM_SIDE}: the frames are the robot side's, and no call is made on stale ones` },
    },
  },
  {
    id: 'latency-spike',
    fault: 'latency above budget',
    how: 'VLA_INJECT_FAULTS=latency-spike: 1500 ms then 600 ms (remote: 1500 ms in vla-serve, no tick-stamp there)',
    expect: 'underrun holds, resume; 0 stale actions executed (--policy tick-stamp); exit 0',
    cells: { sim: RUN, ur: RUN, aloha: RUN, remote: RUN },
  },
  {
    id: 'policy-server-killed',
    fault: 'policy server killed',
    how: 'vla-serve killed mid-run and restarted on the same port',
    expect: 'hold, calls fail as unavailable, reconnect, resume; exit 0',
    cells: {
      sim: { na: 'a local policy has no server: the remote column is the sim with a served policy' },
      ur: { na: 'the server link does not know the driver (src/policy/remote): the remote column' },
      aloha: { na: 'the server link does not know the driver (src/policy/remote): the remote column' },
      remote: { see: 'test/e2e/vla-run-remote.test.ts: the policy server killed mid-run and restarted' },
    },
  },
  {
    id: 'malformed-files',
    fault: 'malformed model / manifest / calibration / profile',
    how: 'truncated or invalid files given to vla-run (remote: to vla-serve)',
    expect: 'exit 2 naming the file and field, nothing on stdout but the error, nothing moved',
    cells: {
      sim: RUN,
      ur: RUN,
      aloha: { see: `${ALOHA}: bad input: a port that cannot be opened or a malformed calibration` },
      remote: RUN,
    },
  },
  {
    id: 'signals',
    fault: 'SIGINT / SIGTERM at a random tick',
    how: 'the signal at a seeded random time during motion',
    expect: 'hold, exit 130 / 143, summary with the interrupted episode; no command after the exit',
    cells: { sim: RUN, ur: RUN, aloha: RUN, remote: RUN },
  },
  {
    id: 'control-thread-dies',
    fault: 'the control thread dies',
    how: 'VLA_INJECT_FAULTS=control-thread-exit: process.exit in the control thread',
    expect: 'the driver is left holding (no further command), exit 1 naming the control thread, summary',
    cells: {
      sim: RUN,
      ur: RUN,
      aloha: RUN,
      remote: { na: `${SIM_SIDE}: the control thread does not know where chunks come from` },
    },
  },
];

/** The rows whose cell on `path` is a test of this folder. */
export function runCells(path: Path): Row[] {
  return TABLE.filter((r) => 'run' in r.cells[path]);
}

/** The table as markdown, for the README. */
export function markdown(): string {
  const cell = (c: Cell, p: Path): string =>
    'run' in c ? `tested: fault-matrix/${p}.test.ts` : 'see' in c ? `see ${c.see}` : `n/a: ${c.na}`;
  const head = `| fault | injected | expected | ${PATHS.join(' | ')} |\n|${' --- |'.repeat(3 + PATHS.length)}`;
  const rows = TABLE.map(
    (r) => `| ${r.fault} | ${r.how} | ${r.expect} | ${PATHS.map((p) => cell(r.cells[p], p)).join(' | ')} |`,
  );
  return [head, ...rows].join('\n');
}
