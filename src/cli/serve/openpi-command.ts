// vla-serve --protocol openpi: the same policy behind openpi's WebSocket + msgpack-numpy protocol, for openpi
// clients (and vla-run --policy ws://...). openpi's only credential is an optional API key in the handshake
// (`Authorization: Api-Key <key>`): with $OPENPI_API_KEY set, handshakes without it get 401. A server that other
// machines can reach gets a warning: without a key anyone can use the policy, with one the key crosses the
// network in clear text (ws://, no TLS). Until Ctrl-C / SIGTERM (exit 0); bad flags, a model that cannot load or a busy
// port: exit 2.
import { PolicyLoadError } from '../../policy/onnx/manifest.js';
import { OnnxPolicy } from '../../policy/onnx/onnx-policy.js';
import { parseOpenpiBind, startOpenpiServer } from '../../policy/remote/openpi-server.js';
import { createLogger } from '../../telemetry/log.js';
import { intArg, numArg, UsageError } from '../common.js';

export interface OpenpiServeFlags {
  policy?: string;
  bind?: string;
  threads: string;
  openpiMap?: string;
  maxMessageMb?: string;
  json?: boolean;
}

export async function serveOpenpi(o: OpenpiServeFlags): Promise<void> {
  const log = createLogger({ name: 'vla-serve' });
  if (!o.policy) throw new UsageError('--policy is required (the ONNX model to serve)');
  let bind: { host: string; port: number };
  try {
    bind = parseOpenpiBind(o.bind);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const max_message_bytes =
    o.maxMessageMb === undefined
      ? undefined
      : Math.round(numArg('--max-message-mb', o.maxMessageMb, 0.001, 4096) * 1e6);
  let policy: OnnxPolicy;
  try {
    policy = await OnnxPolicy.load(o.policy, { intra_op_threads: intArg('--threads', o.threads, 1, 256) });
  } catch (err) {
    if (err instanceof PolicyLoadError) throw new UsageError(err.message);
    throw err;
  }
  let server: Awaited<ReturnType<typeof startOpenpiServer>>;
  try {
    server = await startOpenpiServer({
      policy,
      ...bind,
      mapping: o.openpiMap,
      max_message_bytes,
      log: (l) => log.info(l),
      api_key: process.env.OPENPI_API_KEY || undefined,
    });
  } catch (err) {
    await policy.close();
    throw new UsageError((err as Error).message);
  }
  // listened to before the address is printed: whoever reads it may signal at once, and must get the summary
  const stopSignal = new Promise<string>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
  const line = {
    url: server.url,
    protocol: 'openpi',
    policy: policy.describe().name,
    openpi_map: server.metadata.openpi_map,
    api_key_required: Boolean(process.env.OPENPI_API_KEY),
  };
  process.stdout.write(
    o.json
      ? `${JSON.stringify(line)}\n`
      : `vla-serve: ${line.policy} on ${line.url} (openpi); ` +
          `a vla-run client: --policy ${line.url} --openpi-map '${String(line.openpi_map)}'\n`,
  );
  if (bind.host !== '127.0.0.1' && bind.host !== 'localhost' && bind.host !== '::1')
    log.warn(
      process.env.OPENPI_API_KEY
        ? `${server.url} is reachable from other machines: clients need the API key, which travels unencrypted ` +
            '(ws://): use it on a trusted network or behind a TLS proxy'
        : `${server.url} is reachable from other machines without a key: anyone who reaches it can use the ` +
            'policy (set $OPENPI_API_KEY to require one)',
    );
  const signal = await stopSignal;
  await server.close();
  await policy.close();
  log.info({ signal, ...server.counters() }, 'stopped');
  process.exitCode = 0;
}
