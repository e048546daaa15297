// vla-serve: put a policy behind a ZeroMQ server so a robot on another machine runs it with
// `vla-run --policy zmq://host:5555` (or behind openpi's WebSocket protocol: --protocol openpi);
// `vla-serve keys` writes CurveZMQ key pairs for an encrypted, authenticated link.
// Protocol: protocols/policy-server/protocol.ts.
import { Command } from 'commander';
import { choice, runProgram, UsageError } from './common.js';
import { KEYS_HELP, keysCommand } from './serve/keys-command.js';
import { serveOpenpi } from './serve/openpi-command.js';
import { SERVE_HELP, serveCommand } from './serve/serve-command.js';

const collect = (value: string, prev: string[] = []): string[] => [...prev, value];

const program = new Command('vla-serve')
  .description(
    'Serve a policy (an ONNX model with its manifest) over ZeroMQ to robots on other machines: they send ' +
      "observations (state, camera frames at the model's input size), it answers with action chunks and its own " +
      'timing. Several robots may share one server. Binds loopback unless told otherwise.',
  )
  .showHelpAfterError('(add --help for usage)')
  // the server's options go before `keys`, so `vla-serve keys --json` is the subcommand's
  .enablePositionalOptions()
  .option('--policy <model.onnx>', 'the ONNX policy to serve, with its manifest (required)')
  .option(
    '--protocol <zmq|openpi>',
    'wire protocol: zmq (vla-run --policy zmq://...) or openpi (WebSocket + msgpack-numpy, for openpi clients and ' +
      'vla-run --policy ws://...)',
    'zmq',
  )
  .option(
    '--bind <endpoint>',
    'where to listen: tcp://HOST:PORT for zmq (default tcp://127.0.0.1:5555), HOST:PORT or ws://HOST:PORT for ' +
      'openpi (default 127.0.0.1:8000); port 0: any free port',
  )
  .option(
    '--openpi-map <spec>',
    "with --protocol openpi: which observation key feeds which camera (vla-run's syntax; horizon/dim default to " +
      "the policy's); default observation/<camera>, observation/state, prompt",
  )
  .option('--curve-secret-key <file>', "encrypt with CurveZMQ: this server's key pair file (NAME.key_secret)")
  .option(
    '--allow-client-key <file|dir>',
    'with --curve-secret-key: a client public key file (NAME.key) let in, or a folder of them (repeat)',
    collect,
  )
  .option('--workers <n>', 'policy instances, each in its own inference thread, serving requests in parallel', '1')
  .option('--threads <n>', 'ONNX Runtime intra-op threads per worker', '1')
  .option('--max-queue <n>', 'requests waiting for a worker, all clients together; more are answered busy', '16')
  .option('--max-message-mb <mb>', 'largest request accepted (default: twice a raw request of the model, >= 1 MB)')
  .option(
    '--inject-latency-ms <ms>',
    'rehearse a slower model: every answer waits this much longer, reported as inference time (vla-latency, ' +
      '--max-in-flight)',
  )
  .option('--json', 'print one JSON line on stdout when listening (logs stay on stderr)')
  .addHelpText('after', SERVE_HELP)
  .action((o) => {
    const protocol = choice('protocol', o.protocol, ['zmq', 'openpi'] as const);
    if (protocol === 'openpi') return serveOpenpi(o);
    if (o.openpiMap !== undefined) throw new UsageError('--openpi-map goes with --protocol openpi');
    return serveCommand({ ...o, bind: o.bind ?? 'tcp://127.0.0.1:5555' });
  });

program
  .command('keys')
  .description('write a CurveZMQ key pair: NAME.key (public, give it to the other side) and NAME.key_secret')
  .requiredOption('--out <dir>', 'folder to write the key files to (created if missing)')
  .option('--name <name>', 'file name stem, e.g. server or robot1', 'server')
  .option('--force', 'overwrite existing key files')
  .option('--json', 'print one JSON object on stdout')
  .addHelpText('after', KEYS_HELP)
  .action(keysCommand);

await runProgram(program, process.argv, 'vla-serve');
