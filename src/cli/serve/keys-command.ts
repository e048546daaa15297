// vla-serve keys: a CurveZMQ key pair in two files, both readable by their owner only (0600): NAME.key (the
// public key, handed to the other side) and NAME.key_secret (both keys, kept). Refuses to overwrite without --force.
import { chmod, mkdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { curveKeyPair } from 'zeromq';
import { keyFileText } from '../../../protocols/policy-server/curve.js';
import { UsageError } from '../common.js';

export interface KeysFlags {
  out: string;
  name: string;
  force?: boolean;
  json?: boolean;
}

export const KEYS_HELP = `
Example (one pair for the server, one per robot):
  vla-serve keys --out keys/ --name server
  vla-serve keys --out keys/ --name robot1
  vla-serve --policy model.onnx --bind tcp://0.0.0.0:5555 --curve-secret-key keys/server.key_secret \\
      --allow-client-key keys/robot1.key
  vla-run --robot ur5e --rosbridge ws://ur-cell:9090 \\
      --policy 'zmq://gpu-box:5555?server_key=keys/server.key&client_key=keys/robot1.key_secret'`;

export async function keysCommand(o: KeysFlags): Promise<void> {
  if (!/^[\w.-]+$/.test(o.name)) throw new UsageError(`--name '${o.name}': use letters, digits, '.', '-' and '_'`);
  const isFile = await stat(o.out).then(
    (s) => !s.isDirectory(),
    () => false,
  );
  if (isFile) throw new UsageError(`--out ${o.out} is a file; give a folder`);
  await mkdir(o.out, { recursive: true, mode: 0o700 });
  const pub = join(o.out, `${o.name}.key`);
  const secret = join(o.out, `${o.name}.key_secret`);
  for (const path of o.force ? [] : [pub, secret]) {
    if (
      await stat(path).then(
        () => true,
        () => false,
      )
    )
      throw new UsageError(`${path} exists; --force overwrites it (clients holding the old key will be refused)`);
  }
  const pair = curveKeyPair();
  await write(secret, keyFileText(o.name, { public_key: pair.publicKey, secret_key: pair.secretKey }), o.force);
  await write(pub, keyFileText(o.name, { public_key: pair.publicKey }), o.force);
  if (o.json) {
    process.stdout.write(
      `${JSON.stringify({ public_key_file: pub, secret_key_file: secret, public_key: pair.publicKey })}\n`,
    );
    return;
  }
  process.stdout.write(
    `public key  ${pub}  (give it to the other side)\nkey pair    ${secret}  (secret: keep it, mode 0600)\n` +
      `public key: ${pair.publicKey}\n`,
  );
}

async function write(path: string, text: string, force: boolean | undefined): Promise<void> {
  try {
    await writeFile(path, text, { mode: 0o600, flag: force ? 'w' : 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST')
      throw new UsageError(`${path} exists; --force overwrites it (clients holding the old key will be refused)`);
    throw err;
  }
  // the mode applies only when the file is created: an overwritten one is narrowed here
  await chmod(path, 0o600);
}
