// vla-serve (the server): load the policy (one instance per worker), bind, print where it listens and what it
// serves, and serve until Ctrl-C / SIGTERM (exit 0, per-client counts in the log) or until the policy itself
// fails (exit 1). Bad flags, a model that cannot be loaded, or an address that cannot be bound: exit 2.
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { readKeyFile } from '../../../protocols/policy-server/curve.js';
import type { PolicyFacts } from '../../../protocols/policy-server/protocol.js';
import { PolicyLoadError } from '../../policy/onnx/manifest.js';
import { OnnxPolicy } from '../../policy/onnx/onnx-policy.js';
import type { Policy } from '../../policy/policy.js';
import { PolicyServer, type ServerEvent, type ServerStats } from '../../policy/remote/policy-server.js';
import { announcePlan, FaultPlan, FaultSpecError, injectPolicyFaults } from '../../runtime/fault-injection.js';
import { createLogger, type Logger } from '../../telemetry/log.js';
import { intArg, numArg, UsageError } from '../common.js';

export interface ServeFlags {
  policy?: string;
  bind: string;
  curveSecretKey?: string;
  allowClientKey?: string[];
  workers: string;
  threads: string;
  maxQueue: string;
  maxMessageMb?: string;
  injectLatencyMs?: string;
  json?: boolean;
}

export const SERVE_HELP = `
Examples:
  vla-serve --policy models/ur5e-pick-place.onnx               # tcp://127.0.0.1:5555: this machine only
  vla-run --robot ur5e --sim --policy zmq://127.0.0.1:5555     # then, from another terminal
  vla-serve --policy act.onnx --bind tcp://127.0.0.1:0 --json  # any free port, printed as one JSON line
  vla-serve --policy act.onnx --bind tcp://0.0.0.0:5555 --workers 2 \\
      --curve-secret-key keys/server.key_secret --allow-client-key keys/robot1.key
  vla-run --robot aloha --ports ... \\
      --policy 'zmq://gpu-box:5555?server_key=keys/server.key&client_key=keys/robot1.key_secret'
  vla-serve keys --out keys/ --name server                     # key pairs: see vla-serve keys --help
  vla-serve --protocol openpi --policy act.onnx                # ws://127.0.0.1:8000 for openpi clients

A server on another interface than loopback without CURVE prints a warning: anyone who reaches the port can
drive the policy and read the frames. Requests are answered in order per worker; a full queue answers busy, a
malformed or oversized message gets an error reply and is counted, and the server goes on serving the others.
Exit codes: 0 stopped by Ctrl-C or SIGTERM, 1 the policy failed while serving, 2 bad usage or input.`;

interface ServeArgs {
  model: string;
  bind: string;
  workers: number;
  threads: number;
  max_queue: number;
  max_message_bytes: number | undefined;
  curve: { secret_key: string; allowed_client_keys: string[] } | undefined;
  inject_latency_ms: number;
}

export async function serveCommand(o: ServeFlags): Promise<void> {
  const log = createLogger({ name: 'vla-serve' });
  const a = await serveArgs(o);
  const pool = await loadPool(a);
  let fatal: (message: string) => void = () => {};
  const onEvent = (e: ServerEvent) => {
    if (e.type === 'fatal') fatal(e.message);
    else if (e.type === 'hello') log.info({ client: e.client, peer: e.peer }, 'client connected');
    else if (e.allowed) log.info({ client_key: e.client_key, address: e.address }, 'CURVE client key let in');
    else log.warn({ client_key: e.client_key, address: e.address }, 'CURVE client key refused');
  };
  let server: PolicyServer;
  try {
    server = await PolicyServer.start(withInjectedFaults(pool), {
      bind: a.bind,
      max_queue: a.max_queue,
      max_message_bytes: a.max_message_bytes,
      curve: a.curve,
      on_event: onEvent,
      inject_latency_ms: a.inject_latency_ms,
    });
  } catch (err) {
    await Promise.all(pool.map((p) => p.close()));
    throw new UsageError((err as Error).message);
  }
  // listened to before the address is printed: whoever reads it may signal at once
  let stop: (why: string) => void = () => {};
  const stopped = new Promise<string>((resolve) => {
    stop = resolve;
  });
  const onSignal = (signal: string) => () => stop(signal);
  const handlers = { SIGINT: onSignal('SIGINT'), SIGTERM: onSignal('SIGTERM') };
  process.once('SIGINT', handlers.SIGINT);
  process.once('SIGTERM', handlers.SIGTERM);
  fatal = (message) => stop(`the policy failed: ${message}`);
  announce(server, a, o.json === true);
  if (!a.curve && !isLocal(server.endpoint))
    log.warn(
      `${server.endpoint} is reachable from other machines and CURVE is off: anyone who reaches it can use the ` +
        'policy and read the frames; add --curve-secret-key and --allow-client-key (vla-serve keys)',
    );
  const keepAlive = setInterval(() => {}, 1 << 30);
  const why = await stopped;
  clearInterval(keepAlive);
  // the handlers stay while the server shuts down (its last replies take a moment to leave): a signal then
  // changes nothing, and the exit code stays the reason it stopped for
  await server.close();
  await Promise.all(pool.map((p) => p.close()));
  process.off('SIGINT', handlers.SIGINT);
  process.off('SIGTERM', handlers.SIGTERM);
  report(log, why, server.stats());
  process.exitCode = why.startsWith('SIG') ? 0 : 1;
}

async function serveArgs(o: ServeFlags): Promise<ServeArgs> {
  if (!o.policy) throw new UsageError('--policy is required (the ONNX model to serve)');
  if (o.policy === 'expert' || o.policy === 'tick-stamp')
    throw new UsageError(
      o.policy === 'expert'
        ? "--policy expert: the scripted expert reads the simulator's task state, which no robot sends; serve an " +
            'ONNX model (run the expert locally: vla-run --sim --policy expert)'
        : '--policy tick-stamp: the diagnostic runs inside vla-run (vla-run --policy tick-stamp); serve an ONNX model',
    );
  const bind = o.bind.replace(/^zmq:/i, 'tcp:');
  if (!/^(tcp|ipc):\/\/.+/.test(bind))
    throw new UsageError(`--bind ${o.bind}: expected tcp://HOST:PORT (or ipc://PATH), e.g. tcp://127.0.0.1:5555`);
  const allowed = o.allowClientKey ?? [];
  if (allowed.length > 0 && !o.curveSecretKey)
    throw new UsageError('--allow-client-key needs --curve-secret-key (client keys are checked only with CURVE on)');
  let curve: ServeArgs['curve'];
  if (o.curveSecretKey) {
    if (allowed.length === 0)
      throw new UsageError(
        '--curve-secret-key needs at least one --allow-client-key (the public keys of the clients let in)',
      );
    const mine = await readKeyFile(o.curveSecretKey).catch(usage);
    if (!mine.secret_key)
      throw new UsageError(`${o.curveSecretKey}: no secret-key in it; give the NAME.key_secret file of vla-serve keys`);
    curve = { secret_key: mine.secret_key, allowed_client_keys: await clientKeys(allowed) };
  }
  return {
    model: o.policy,
    bind,
    workers: intArg('--workers', o.workers, 1, 64),
    threads: intArg('--threads', o.threads, 1, 256),
    max_queue: intArg('--max-queue', o.maxQueue, 1, 100_000),
    max_message_bytes:
      o.maxMessageMb === undefined
        ? undefined
        : Math.round(numArg('--max-message-mb', o.maxMessageMb, 0.001, 4096) * 1e6),
    curve,
    inject_latency_ms:
      o.injectLatencyMs === undefined ? 0 : numArg('--inject-latency-ms', o.injectLatencyMs, 0, 60_000),
  };
}

const usage = (err: Error): never => {
  throw new UsageError(err.message);
};

/** The public keys in the files named, a folder standing for every *.key file in it. */
async function clientKeys(paths: string[]): Promise<string[]> {
  const keys: string[] = [];
  for (const path of paths) {
    const isDir = await stat(path).then(
      (s) => s.isDirectory(),
      () => false,
    );
    const files = isDir ? (await readdir(path)).filter((f) => f.endsWith('.key')).map((f) => join(path, f)) : [path];
    if (files.length === 0) throw new UsageError(`--allow-client-key ${path}: no *.key files in that folder`);
    for (const f of files) keys.push((await readKeyFile(f).catch(usage)).public_key);
  }
  return keys;
}

/**
 * The pool with VLA_INJECT_FAULTS's chunk faults armed (src/runtime/fault-injection.ts): the fault matrix's
 * remote column injects them where a real server would fail. Run ticks are the observations' ticks, counted on
 * across the runs of every client. Unset: the pool itself.
 */
function withInjectedFaults(pool: OnnxPolicy[]): Policy[] {
  let plan: FaultPlan | undefined;
  try {
    plan = FaultPlan.fromEnv(pool[0].describe().control_hz ?? 50);
  } catch (err) {
    if (err instanceof FaultSpecError) throw new UsageError(err.message);
    throw err;
  }
  announcePlan(plan);
  return pool.map((p) => injectPolicyFaults(p, plan));
}

async function loadPool(a: ServeArgs): Promise<OnnxPolicy[]> {
  const pool: OnnxPolicy[] = [];
  try {
    for (let i = 0; i < a.workers; i++) pool.push(await OnnxPolicy.load(a.model, { intra_op_threads: a.threads }));
  } catch (err) {
    await Promise.all(pool.map((p) => p.close()));
    if (err instanceof PolicyLoadError) throw new UsageError(err.message);
    throw err;
  }
  return pool;
}

/** Loopback or a local socket file: nothing outside this machine reaches it. */
export function isLocal(endpoint: string): boolean {
  if (endpoint.startsWith('ipc://')) return true;
  const host = endpoint.replace(/^tcp:\/\//, '').replace(/:\d+$/, '');
  return host === 'localhost' || /^127\./.test(host) || host === '[::1]' || host === '::1';
}

function announce(server: PolicyServer, a: ServeArgs, json: boolean): void {
  const f = server.facts;
  const security = a.curve ? `CURVE, ${a.curve.allowed_client_keys.length} client key(s) let in` : 'none';
  if (json) {
    const line = {
      event: 'listening',
      endpoint: server.endpoint,
      model: a.model,
      policy: f,
      curve: a.curve !== undefined,
      allowed_client_keys: a.curve?.allowed_client_keys.length ?? 0,
      workers: a.workers,
      max_queue: a.max_queue,
      max_message_bytes: server.max_message_bytes,
    };
    process.stdout.write(`${JSON.stringify(line)}\n`);
    return;
  }
  process.stdout.write(
    `vla-serve: serving ${summary(f)}\n` +
      `  listening  ${server.endpoint}\n` +
      `  security   ${security}\n` +
      `  limits     requests up to ${(server.max_message_bytes / 1e6).toFixed(1)} MB, queue ${a.max_queue}, ` +
      `${a.workers} worker(s)\n` +
      `  use it     vla-run --robot ${f.robot ?? '<robot>'} ... --policy ` +
      `${server.endpoint.replace(/^tcp:/, 'zmq:')}\n` +
      'Ctrl-C stops (per-client counts go to the log).\n',
  );
}

export function summary(f: PolicyFacts): string {
  const cams = f.cameras.map((c) => `${c.name} ${c.width}x${c.height}${c.layout ? ` ${c.layout}` : ''}`).join(', ');
  return (
    `${f.name} (${f.kind}${f.robot ? `, robot ${f.robot}` : ''}${f.control_hz ? `, ${f.control_hz} Hz` : ''}): ` +
    `chunk ${f.horizon} x ${f.action_dim}, offset ${f.action_offset}, state ${f.state_dim ?? 'none'}, ` +
    `cameras ${cams || 'none'}`
  );
}

function report(log: Logger, why: string, s: ServerStats): void {
  const level = why.startsWith('SIG') ? 'info' : 'error';
  log[level](
    { rejected: s.rejected, connections: s.connections, refused_client_keys: s.refused_client_keys },
    `stopped (${why}) after ${s.uptime_s} s, ${s.clients.length} client connection(s)`,
  );
  for (const c of s.clients) {
    log.info(
      {
        peer: c.peer,
        requests: c.requests,
        chunks: c.chunks,
        errors: c.errors,
        bytes_in: c.bytes_in,
        bytes_out: c.bytes_out,
      },
      `client ${c.client || '(no hello)'}`,
    );
  }
}
