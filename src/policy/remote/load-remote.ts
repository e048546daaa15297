// `--policy zmq://host:port` (or tcp://) to a remote Policy, checked against the robot before anything moves,
// exactly as a local model is. Options ride on the address's query, or come from flags (which win):
//   zmq://gpu-box:5555?server_key=server.key&client_key=robot.key_secret&jpeg_quality=80&timeout_ms=2000
// server_key: the server's public key file (or the 40-character key itself, percent-encoded); client_key: this
// client's key pair file (`vla-serve keys`). No server at the address, a refused key, or a policy that does not
// fit the robot: PolicyMismatch (exit 2).
import { curveKeyPair } from 'zeromq';
import { isCurveKey, readKeyFile } from '../../../protocols/policy-server/curve.js';
import { DEFAULT_POLICY_PORT } from '../../../protocols/policy-server/protocol.js';
import { type LoadedPolicy, PolicyMismatch, type PolicyTarget, policyFit } from '../load-policy.js';
import { PolicyFailure, PolicyUnavailable } from '../policy.js';
import { ZmqPolicy, type ZmqPolicyOptions } from './zmq-policy.js';

export interface RemoteFlags {
  /** The server's public key: a key file or the key. */
  server_key?: string;
  /** This client's key pair file. */
  client_key?: string;
  jpeg_quality?: number;
  timeout_ms?: number;
  connect_timeout_ms?: number;
  /** For an openpi server (ws://): which camera goes under which observation key, and the chunk's shape. */
  openpi_map?: string;
}

const QUERY_KEYS = ['server_key', 'client_key', 'jpeg_quality', 'timeout_ms', 'connect_timeout_ms'] as const;

export function isRemotePolicySpec(spec: string): boolean {
  return /^(zmq|tcp):\/\//i.test(spec);
}

/** The ZeroMQ endpoint and the options an address carries; throws PolicyMismatch naming what is wrong. */
export function parseRemoteSpec(spec: string): { endpoint: string; flags: RemoteFlags } {
  let url: URL;
  try {
    url = new URL(spec.replace(/^zmq:/i, 'tcp:'));
  } catch {
    throw new PolicyMismatch(`--policy ${spec}: not an address (expected zmq://host:port or tcp://host:port)`);
  }
  if (!url.hostname) throw new PolicyMismatch(`--policy ${spec}: no host (expected zmq://host:port)`);
  const port = url.port === '' ? DEFAULT_POLICY_PORT : Number(url.port);
  const flags: RemoteFlags = {};
  for (const [key, value] of url.searchParams) {
    if (!(QUERY_KEYS as readonly string[]).includes(key))
      throw new PolicyMismatch(`--policy ${spec}: unknown option '${key}' (valid: ${QUERY_KEYS.join(', ')})`);
    if (key === 'server_key' || key === 'client_key') flags[key] = value;
    else flags[key as 'timeout_ms'] = numberOption(spec, key, value);
  }
  return { endpoint: `tcp://${url.hostname}:${port}`, flags };
}

function numberOption(spec: string, key: string, value: string): number {
  const n = Number(value);
  const [lo, hi] = key === 'jpeg_quality' ? [1, 100] : [1, 600_000];
  if (!Number.isInteger(n) || n < lo || n > hi)
    throw new PolicyMismatch(`--policy ${spec}: ${key} must be an integer in [${lo}, ${hi}], got '${value}'`);
  return n;
}

/** The CURVE options for the flags, or undefined without a server key. */
export async function curveOptions(flags: RemoteFlags): Promise<ZmqPolicyOptions['curve']> {
  if (!flags.server_key && !flags.client_key) return undefined;
  if (!flags.server_key)
    throw new PolicyMismatch("a CURVE client key needs the server's public key too (server_key / --curve-server-key)");
  const server_key = isCurveKey(flags.server_key)
    ? flags.server_key
    : (await readKeyFile(flags.server_key).catch(refuse)).public_key;
  if (!flags.client_key) {
    // encryption without a key of its own: only a server that lets any client in accepts it
    const pair = curveKeyPair();
    return { server_key, public_key: pair.publicKey, secret_key: pair.secretKey };
  }
  const mine = await readKeyFile(flags.client_key).catch(refuse);
  if (!mine.secret_key)
    throw new PolicyMismatch(
      `${flags.client_key}: no secret-key in it; give the NAME.key_secret file of vla-serve keys`,
    );
  return { server_key, public_key: mine.public_key, secret_key: mine.secret_key };
}

const refuse = (err: Error): never => {
  throw new PolicyMismatch(err.message);
};

/** Connect to the server, read its manifest and check it against the robot; PolicyMismatch when it cannot run. */
export async function loadRemotePolicy(
  spec: string,
  target: PolicyTarget,
  extra: RemoteFlags = {},
): Promise<LoadedPolicy> {
  const { endpoint, flags: fromUrl } = parseRemoteSpec(spec);
  const flags = { ...fromUrl, ...Object.fromEntries(Object.entries(extra).filter(([, v]) => v !== undefined)) };
  const curve = await curveOptions(flags);
  let policy: ZmqPolicy;
  try {
    policy = await ZmqPolicy.connect({
      endpoint,
      curve,
      jpeg_quality: flags.jpeg_quality,
      timeout_ms: flags.timeout_ms,
      connect_timeout_ms: flags.connect_timeout_ms,
      client: `vla-run ${target.robot.robot} pid ${process.pid}`,
    });
  } catch (err) {
    if (err instanceof PolicyUnavailable || err instanceof PolicyFailure) {
      const hint = curve && err instanceof PolicyUnavailable ? " (with CURVE: is server_key the server's key?)" : '';
      throw new PolicyMismatch(`${err.message}${hint}`);
    }
    throw err;
  }
  const { errors, warnings } = policyFit(policy.describe(), target);
  if (errors.length) {
    await policy.close();
    throw new PolicyMismatch(
      `the policy served at ${endpoint} ('${policy.describe().name}') does not fit ${target.robot.robot}: ` +
        errors.join('; '),
    );
  }
  return { policy, warnings };
}
