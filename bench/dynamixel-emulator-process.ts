// The Dynamixel emulator in a child process (`vla-sim dynamixel --robot aloha --json`), as a user runs
// it: its MuJoCo stepping and its replies run on another thread of the machine than the loop being
// measured, as real servos would. On stop it is sent SIGTERM and logs its own counters (pino JSON on
// stderr), which we pick up to cross-check the driver's (e.g. replies corrupted vs CRC errors seen).
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { AlohaSide } from '../protocols/aloha/motor-map.js';

export interface EmulatorProcessOptions {
  crc_error_rate?: number;
  /** The emulator's own --cpu-wake-latency-us (default: its default, 0). */
  cpu_wake_latency_us?: number | 'off';
  /** Seconds to wait for the ready line (MuJoCo model compilation on a loaded machine). */
  ready_timeout_s?: number;
}

export interface EmulatorExitReport {
  /** Per arm: requests, replies, dropped_replies, corrupted_replies, bad_requests (from the emulator's log). */
  counters: unknown;
  /** Emulator control ticks that could not run in time (its own process stalled). */
  slipped_ticks: number | null;
  exit_code: number | null;
}

export interface EmulatorProcess {
  pid: number;
  ports: Record<AlohaSide, string>;
  stop(): Promise<EmulatorExitReport>;
}

const VLA_SIM = fileURLToPath(new URL('../../bin/vla-sim.js', import.meta.url));
const STOP_TIMEOUT_MS = 10_000;

export async function startEmulatorProcess(opts: EmulatorProcessOptions = {}): Promise<EmulatorProcess> {
  const args = [
    VLA_SIM,
    'dynamixel',
    '--robot',
    'aloha',
    '--json',
    '--no-sim-link',
    '--crc-error-rate',
    String(opts.crc_error_rate ?? 0),
    ...(opts.cpu_wake_latency_us !== undefined ? ['--cpu-wake-latency-us', String(opts.cpu_wake_latency_us)] : []),
  ];
  const child = spawn(process.execPath, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, VLA_LOG_LEVEL: 'info' },
  });
  const logLines: string[] = [];
  createInterface({ input: child.stderr! }).on('line', (l) => {
    logLines.push(l);
    if (logLines.length > 200) logLines.shift();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

  const ports = await new Promise<Record<AlohaSide, string>>((resolve, reject) => {
    const timer = setTimeout(
      () => fail(`no ready line within ${opts.ready_timeout_s ?? 120} s`),
      (opts.ready_timeout_s ?? 120) * 1000,
    );
    const fail = (why: string) => {
      clearTimeout(timer);
      if (child.exitCode === null) child.kill('SIGKILL');
      reject(new Error(`vla-sim dynamixel: ${why}; its log: ${logLines.slice(-5).join(' | ')}`));
    };
    child.once('error', (err) => fail(err.message));
    void exited.then((code) => fail(`exited (code ${code}) before it was ready`));
    createInterface({ input: child.stdout! }).once('line', (line) => {
      clearTimeout(timer);
      try {
        resolve((JSON.parse(line) as { ports: Record<AlohaSide, string> }).ports);
      } catch {
        fail(`unexpected ready line: ${line}`);
      }
    });
  });

  return {
    pid: child.pid!,
    ports,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
      const exit_code = await exited;
      clearTimeout(killer);
      const stopping = logLines.map(parseJson).find((r) => r?.msg === 'emulator stopping');
      return {
        counters: stopping?.counters ?? null,
        slipped_ticks: (stopping?.slipped_ticks as number | undefined) ?? null,
        exit_code,
      };
    },
  };
}

function parseJson(line: string): Record<string, unknown> | undefined {
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}
