// The same remote call through openpi's protocol (WebSocket + msgpack with numpy arrays), side by side with
// vla-serve's ZeroMQ protocol in the same run (remote-bench.ts): `vla-serve --protocol openpi` in its own
// process serving the same model, our openpi client in this one, the same observations. Overhead = round
// trip minus the server's own inference time (its server_timing.infer_ms). openpi's client sends frames
// resized with padding to the model's size (here the same size: a copy) as uint8 arrays inside msgpack.
import { type ChildProcess, spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { parseOpenpiMapping } from '../protocols/openpi/mapping.js';
import type { Observation } from '../src/policy/policy.js';
import { OpenpiPolicy } from '../src/policy/remote/openpi-policy.js';

export interface OpenpiFigures {
  overhead_p50_ms: number;
  overhead_p99_ms: number;
  overhead_p99_passes_ms: number[];
  round_trip_p50_ms: number;
  request_bytes: number;
}

const round = (x: number): number => Math.round(x * 1000) / 1000;
const quantile = (xs: number[], q: number): number =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))];

export async function measureOpenpi(
  model: string,
  obs: Observation[],
  o: { calls: number; warmup: number; passes: number; action_dim: number },
): Promise<OpenpiFigures> {
  const bin = resolve(import.meta.dirname, '../../bin/vla-serve.js');
  const child = spawn(
    process.execPath,
    [bin, '--protocol', 'openpi', '--policy', model, '--bind', '127.0.0.1:0', '--json'],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, VLA_LOG_LEVEL: 'warn' },
    },
  );
  try {
    const line = await firstLine(child);
    const { url, openpi_map } = JSON.parse(line) as { url: string; openpi_map: string };
    const policy = await OpenpiPolicy.connect({
      url,
      mapping: parseOpenpiMapping(openpi_map, { action_dim: o.action_dim }),
      timeout_ms: 10_000,
    });
    try {
      return await measure(policy, obs, o);
    } finally {
      await policy.close();
    }
  } finally {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGINT');
      await exited;
    }
  }
}

async function measure(
  policy: OpenpiPolicy,
  obs: Observation[],
  o: { calls: number; warmup: number; passes: number },
): Promise<OpenpiFigures> {
  for (let i = 0; i < o.warmup; i++) await policy.infer(obs[i % obs.length]);
  const passes: { overhead: number[]; rt: number[] }[] = [];
  for (let p = 0; p < o.passes; p++) {
    const t = { overhead: [] as number[], rt: [] as number[] };
    for (let i = 0; i < o.calls; i++) {
      await policy.infer(obs[i % obs.length]);
      const c = policy.counters() as { last_round_trip_ms: number; last_server_infer_ms: number };
      t.overhead.push(c.last_round_trip_ms - c.last_server_infer_ms);
      t.rt.push(c.last_round_trip_ms);
    }
    passes.push(t);
  }
  const p99s = passes.map((t) => quantile(t.overhead, 0.99));
  const best = passes[p99s.indexOf(Math.min(...p99s))];
  const c = policy.counters() as { last_request_bytes: number };
  return {
    overhead_p50_ms: round(quantile(best.overhead, 0.5)),
    overhead_p99_ms: round(quantile(best.overhead, 0.99)),
    overhead_p99_passes_ms: p99s.map(round),
    round_trip_p50_ms: round(quantile(best.rt, 0.5)),
    request_bytes: c.last_request_bytes,
  };
}

function firstLine(child: ChildProcess): Promise<string> {
  return new Promise((ready, fail) => {
    let out = '';
    child.stdout?.on('data', (d) => {
      out += d;
      if (out.includes('\n')) ready(out.split('\n')[0]);
    });
    child.on('exit', (code) => fail(new Error(`vla-serve --protocol openpi exited (${code}) before it was ready`)));
  });
}
