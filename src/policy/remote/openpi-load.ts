// `--policy ws://host:port --openpi-map <spec>` to a Policy, checked against the robot before anything moves,
// exactly as a local model is. Options may ride on the address's query (they are not sent to the server):
//   ws://gpu-box:8000?timeout_ms=8000&connect_timeout_ms=5000
// The mapping's dim defaults to the robot's action dimension; horizon must be given. No server at the address,
// a bad mapping, a server whose metadata disagrees, or a policy that does not fit the robot: PolicyMismatch (exit 2).
import { OpenpiMappingError, parseOpenpiMapping } from '../../../protocols/openpi/mapping.js';
import { type LoadedPolicy, PolicyMismatch, type PolicyTarget, policyFit } from '../load-policy.js';
import { PolicyFailure, PolicyUnavailable } from '../policy.js';
import { OpenpiPolicy } from './openpi-policy.js';

/** openpi's serve_policy.py listens here unless told otherwise. */
export const OPENPI_DEFAULT_PORT = 8000;

const QUERY_KEYS = ['timeout_ms', 'connect_timeout_ms'] as const;

export function isOpenpiPolicySpec(spec: string): boolean {
  return /^wss?:\/\//i.test(spec);
}

export interface OpenpiAddress {
  url: string;
  timeout_ms?: number;
  connect_timeout_ms?: number;
}

/** The WebSocket URL and the options an address carries; PolicyMismatch naming what is wrong. */
export function parseOpenpiSpec(spec: string): OpenpiAddress {
  let url: URL;
  try {
    url = new URL(spec);
  } catch {
    throw new PolicyMismatch(`--policy ${spec}: not an address (expected ws://host:port)`);
  }
  if (!/^wss?:$/.test(url.protocol) || !url.hostname)
    throw new PolicyMismatch(`--policy ${spec}: expected ws://host:port (an openpi policy server)`);
  const out: OpenpiAddress = { url: '' };
  for (const [key, value] of url.searchParams) {
    if (!(QUERY_KEYS as readonly string[]).includes(key))
      throw new PolicyMismatch(`--policy ${spec}: unknown option '${key}' (valid: ${QUERY_KEYS.join(', ')})`);
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1 || n > 600_000)
      throw new PolicyMismatch(`--policy ${spec}: ${key} must be an integer in [1, 600000], got '${value}'`);
    out[key as (typeof QUERY_KEYS)[number]] = n;
  }
  url.search = '';
  if (url.port === '') url.port = String(OPENPI_DEFAULT_PORT);
  out.url = url.toString().replace(/\/$/, '');
  return out;
}

/** An example for error messages and help. */
export const OPENPI_MAP_EXAMPLE =
  'observation/image=top,observation/wrist_image=wrist,state=observation/state,horizon=10,dim=7';

/** Connect to the openpi server, read its metadata and check the mapping against the robot. */
export async function loadOpenpiPolicy(
  spec: string,
  mapSpec: string | undefined,
  target: PolicyTarget,
  extra: { timeout_ms?: number; connect_timeout_ms?: number } = {},
): Promise<LoadedPolicy> {
  const address = parseOpenpiSpec(spec);
  if (mapSpec === undefined)
    throw new PolicyMismatch(
      `--policy ${spec}: an openpi server needs --openpi-map (which camera goes under which observation key, the ` +
        `chunk's horizon), e.g. --openpi-map '${OPENPI_MAP_EXAMPLE}'`,
    );
  let mapping: ReturnType<typeof parseOpenpiMapping>;
  try {
    mapping = parseOpenpiMapping(mapSpec, { action_dim: target.robot.action_names.length });
  } catch (err) {
    if (err instanceof OpenpiMappingError) throw new PolicyMismatch(`--openpi-map: ${err.message}`);
    throw err;
  }
  let policy: OpenpiPolicy;
  try {
    policy = await OpenpiPolicy.connect({
      url: address.url,
      mapping,
      timeout_ms: extra.timeout_ms ?? address.timeout_ms,
      connect_timeout_ms: extra.connect_timeout_ms ?? address.connect_timeout_ms,
      api_key: process.env.OPENPI_API_KEY || undefined,
    });
  } catch (err) {
    if (err instanceof PolicyUnavailable || err instanceof PolicyFailure) throw new PolicyMismatch(err.message);
    throw err;
  }
  const { errors, warnings } = policyFit(policy.describe(), target);
  if (errors.length) {
    await policy.close();
    throw new PolicyMismatch(
      `the openpi policy at ${address.url} (as --openpi-map describes it) does not fit ${target.robot.robot}: ` +
        errors.join('; '),
    );
  }
  return { policy, warnings };
}
