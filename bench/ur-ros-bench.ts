// Benchmarks of the UR path (issue 5): the runtime with the real UrDriver in its control thread drives
// the simulated endpoint, which runs in a child process as `vla-sim serve` would.
//  command latency: tick -> the endpoint has the command. The control thread stamps each command it
//    puts on the wire with the monotonic time its tick started; the endpoint stamps each command on
//    arrival. Both stamps are process.hrtime (CLOCK_MONOTONIC), one clock for every process of a host,
//    so they compare directly across the two processes. Commands are paired in order (one WebSocket,
//    in-order delivery, one joint command per tick); the counts are reported so a loss would show.
//  long run: N s at 50 Hz with the scripted expert, episodes back to back: missed ticks (ticks the
//    loop started a period or more late), underruns, driver holds.
//  resume: the endpoint is killed mid-episode and started again on the same port: time from the new
//    endpoint being ready to its first command (reconnect back-off + a fresh /joint_states).
// All of it with the CPU wake-up latency capped at 0, as vla-run holds it on a live run.
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { defaultRosSettings } from '../calibration/ros-settings.js';
import { ExpertPolicy } from '../sim/experts/expert-policy.js';
import { robotModel } from '../sim/robots/index.js';
import { createTask, taskTickLimit } from '../sim/tasks/index.js';
import { loadRobot } from '../src/robot/index.js';
import { holdCpuWakeLatency } from '../src/runtime/cpu-wake-latency.js';
import { startRealtime } from '../src/runtime/runtime.js';
import type { RuntimeReport } from '../src/runtime/runtime-types.js';
import { quantile } from '../src/util/sample-ring.js';
import { RosWorld } from '../src/world/ros-world.js';

const CHILD = resolve(import.meta.dirname, 'ur-endpoint-child.js');
const r3 = (x: number) => Math.round(x * 1000) / 1000;
/** The pick-place task's episode limit (sim/tasks): episodes over ROS end there, as vla-run ends them. */
const MAX_TICKS = taskTickLimit(createTask('pick-place'), 50);

interface Endpoint {
  child: ChildProcessWithoutNullStreams;
  url: string;
  ready_t_mono_ms: number;
  next(): Promise<Record<string, unknown>>;
}

async function startEndpoint(port = 0): Promise<Endpoint> {
  const child = spawn(process.execPath, [CHILD, String(port)], { stdio: ['pipe', 'pipe', 'pipe'] });
  child.stderr.resume();
  const lines = createInterface({ input: child.stdout });
  const queue: Record<string, unknown>[] = [];
  const waiting: ((v: Record<string, unknown>) => void)[] = [];
  lines.on('line', (l) => {
    const v = JSON.parse(l) as Record<string, unknown>;
    const w = waiting.shift();
    if (w) w(v);
    else queue.push(v);
  });
  const next = () =>
    new Promise<Record<string, unknown>>((res) => {
      const v = queue.shift();
      if (v) res(v);
      else waiting.push(res);
    });
  const ready = await next();
  return { child, url: ready.url as string, ready_t_mono_ms: ready.t_mono_ms as number, next };
}

async function report(ep: Endpoint): Promise<{ received_t_mono_ms: number[] }> {
  ep.child.stdin.write('report\n');
  return (await ep.next()) as unknown as { received_t_mono_ms: number[] };
}

function stop(ep: Endpoint): Promise<void> {
  return new Promise((res) => {
    ep.child.once('exit', () => res());
    ep.child.kill('SIGTERM');
  });
}

async function startRuntime(url: string) {
  const settings = { ...defaultRosSettings('ros2'), url };
  const world = await RosWorld.open({ url, settings });
  const desc = await loadRobot('ur5e');
  const policy = new ExpertPolicy(robotModel('ur5e'), desc, 'pick-place');
  const rt = await startRealtime({ kind: 'ur', url, settings }, desc, policy, () => world.worldLink(), {
    blend: 'replace',
    margin_ticks: 2,
    injected: { base_ms: 0, jitter_ms: 0 },
    seed: 0,
    fault_timeout_ms: 30_000,
  });
  return { rt, policy };
}

function pairLatency(sent: ArrayLike<number>, received: number[]) {
  const n = Math.min(sent.length, received.length);
  const lat: number[] = [];
  for (let i = 0; i < n; i++) lat.push(received[i] - sent[i]);
  return {
    sent: sent.length,
    received: received.length,
    p50_ms: r3(quantile(lat, 0.5)),
    p99_ms: r3(quantile(lat, 0.99)),
    max_ms: r3(lat.length ? Math.max(...lat) : 0),
    min_ms: r3(lat.length ? Math.min(...lat) : 0),
  };
}

export async function benchmarkUrRos(seconds: number, log: (m: string) => void): Promise<object> {
  // as vla-run does on a live run (the cap is system-wide, so it covers the endpoint process too)
  const wake = holdCpuWakeLatency(0);
  if (wake.why_not) log(`ur: CPU wake-up latency not capped: ${wake.why_not}`);
  try {
    return { cpu_wake_latency_us: wake.held_us, ...(await measure(seconds, log)) };
  } finally {
    wake.release();
  }
}

async function measure(seconds: number, log: (m: string) => void): Promise<object> {
  // 1. latency and the long run
  const ep = await startEndpoint();
  const { rt, policy } = await startRuntime(ep.url);
  log(`ur: ${seconds} s at 50 Hz through rosbridge (${ep.url}), scripted expert, episodes back to back`);
  const t0 = performance.now();
  let seed = 0,
    successes = 0,
    episodes = 0;
  while (performance.now() - t0 < seconds * 1000) {
    const r = await rt.runEpisode({ seed: seed++, max_ticks: MAX_TICKS });
    episodes++;
    if (r.success) successes++;
    if (r.fault) {
      log(`ur: fault ${r.fault}`);
      break;
    }
  }
  const rep: RuntimeReport = await rt.stop();
  const received = (await report(ep)).received_t_mono_ms;
  await stop(ep);
  await policy.close();
  const jitter = Array.from(rep.jitter_ms, Math.abs);
  const long_run = {
    seconds: Math.round((performance.now() - t0) / 1000),
    hz: 50,
    ticks: rep.control.ticks,
    missed_ticks: rep.overruns,
    underruns: rep.control.underruns,
    jitter_ms: {
      p50: r3(quantile(jitter, 0.5)),
      p99: r3(quantile(jitter, 0.99)),
      max: r3(jitter.length ? Math.max(...jitter) : 0),
    },
    episodes,
    successes,
    driver_holds: rep.driver.holds,
    driver_faults: rep.driver.counters,
    control_thread_gc: rep.control_gc ?? null,
  };
  const command_latency = pairLatency(rep.driver.command_t_mono_ms ?? [], received);

  // 2. resume after the endpoint restarts
  const ep1 = await startEndpoint();
  const port = Number(new URL(ep1.url).port);
  const second = await startRuntime(ep1.url);
  const episode = second.rt.runEpisode({ seed: 1000, max_ticks: MAX_TICKS });
  await new Promise((r) => setTimeout(r, 1000));
  const killed = performance.now();
  await stop(ep1);
  const ep2 = await startEndpoint(port);
  const restart_ms = performance.now() - killed;
  // the first command the new endpoint receives: wait for one (the episode runs for up to 8 s)
  let first: number | undefined;
  for (let i = 0; i < 100 && first === undefined; i++) {
    await new Promise((r) => setTimeout(r, 50));
    first = (await report(ep2)).received_t_mono_ms[0];
  }
  await episode;
  const rep2 = await second.rt.stop();
  await second.policy.close();
  await stop(ep2);
  const settings = defaultRosSettings('ros2');
  const resume = {
    endpoint_down_and_up_ms: Math.round(restart_ms),
    resume_ms: first === undefined ? null : r3(first - ep2.ready_t_mono_ms),
    reconnect_backoff_ms: { initial: settings.reconnect_initial_ms, max: settings.reconnect_max_ms },
    driver_holds: rep2.driver.holds,
    reconnects: rep2.driver.counters.reconnects ?? 0,
  };
  return {
    method:
      'process.hrtime (CLOCK_MONOTONIC) stamps in the control thread (tick start of each command put on the wire) ' +
      'and in the endpoint process (arrival); paired in order',
    command_latency,
    long_run,
    resume,
  };
}
