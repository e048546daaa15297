// vla-latency's verdicts where they matter: the shipped ur5e demo model on this machine, and the same model
// behind vla-serve with 200 ms added to every answer (a slow GPU box), with 1 and 2 requests in flight. Each
// line: the measured p99, the delay d the runtime would plan with, the tolerated latency and the verdict.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const BIN = (name: string) => resolve(import.meta.dirname, `../../bin/${name}.js`);
const MODEL = resolve(import.meta.dirname, '../../models/ur5e-pick-place.onnx');

interface Verdict {
  policy: string;
  max_in_flight: number;
  p99_ms: number;
  delay_ticks: number;
  tolerated_ms: number;
  verdict: string;
  exit_code: number;
}

async function latency(policy: string, max_in_flight: number, calls: number): Promise<Verdict> {
  const args = [BIN('vla-latency'), '--robot', 'ur5e', '--policy', policy, '--calls', String(calls)];
  const r = await run(process.execPath, [...args, '--max-in-flight', String(max_in_flight), '--json'], {
    env: { ...process.env, VLA_LOG_LEVEL: 'warn' },
  }).catch((err: { stdout?: string; code?: number }) => ({ stdout: err.stdout ?? '{}', code: err.code }));
  const o = JSON.parse(r.stdout) as { budget: Record<string, unknown>; exit_code: number };
  const b = o.budget as { latency: { p99: number }; delay_ticks: number; tolerated_ms: number; verdict: string };
  return {
    policy,
    max_in_flight,
    p99_ms: b.latency.p99,
    delay_ticks: b.delay_ticks,
    tolerated_ms: b.tolerated_ms,
    verdict: b.verdict,
    exit_code: o.exit_code,
  };
}

/** vla-serve with 200 ms added per answer, two workers (so two requests in flight are served at once). */
function slowServer(): Promise<{ child: ChildProcess; endpoint: string }> {
  const args = ['--policy', MODEL, '--bind', 'tcp://127.0.0.1:0', '--inject-latency-ms', '200', '--workers', '2'];
  const child = spawn(process.execPath, [BIN('vla-serve'), ...args, '--json'], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  return new Promise((ready, fail) => {
    let out = '';
    child.stdout?.on('data', (d) => {
      out += d;
      if (out.includes('\n'))
        ready({ child, endpoint: (JSON.parse(out.split('\n')[0]) as { endpoint: string }).endpoint });
    });
    child.on('exit', (code) => fail(new Error(`vla-serve exited (${code}) before it was ready`)));
  });
}

export async function benchmarkLatencyVerdicts(log: (m: string) => void): Promise<object> {
  log('vla-latency on the shipped ur5e model, 200 calls');
  const local = await latency(MODEL, 1, 200);
  const { child, endpoint } = await slowServer();
  try {
    const remote = endpoint.replace(/^tcp:/, 'zmq:');
    log(`vla-latency through vla-serve --inject-latency-ms 200 (${remote}), 1 and 2 in flight, 50 calls each`);
    const one = await latency(remote, 1, 50);
    const two = await latency(remote, 2, 50);
    return { shipped_model: local, remote_200ms_one_in_flight: one, remote_200ms_two_in_flight: two };
  } finally {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGINT');
    await exited;
  }
}
