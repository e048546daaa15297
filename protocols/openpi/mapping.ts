// Which runtime value goes under which key of an openpi observation, and what the server answers: the
// `--openpi-map` spec. openpi has no manifest (its metadata frame is free-form, often `{}`), so the user says
// what the policy takes; the client checks the server's first reply against it (H and D) before any action runs.
//
// Spec: items separated by commas, each NAME=VALUE (spaces around items are dropped; `\,` is a literal comma):
//   KEY=CAMERA[@WxH][:chw]  an image: runtime camera CAMERA sent under KEY as uint8, W x H (default 224x224),
//                           resized with padding as openpi's client does; HxWx3, or 3xHxW with `:chw` (ALOHA)
//   state=KEY[[A:B]]        the robot state under KEY (default observation/state): all of it, or values A..B-1;
//                           repeat for a state split over keys (in order); `state=` sends no state
//   state_dtype=f4|f8       the state's dtype (default f4: float32)
//   prompt=KEY              the key of the language instruction (default prompt); `prompt=` sends none
//   text=TEXT               the instruction when the run gives none
//   horizon=H, dim=D        the chunk the server answers: actions [H, D] (required unless known otherwise)
//   offset=K                actions[0] is for the observation's tick + K (default 1)
//   hz=RATE                 the control rate the policy was trained at (checked against the run's)
// Any NAME that is not a setting is an image key. A KEY is a path: `.` nests maps (`images.cam_high` is
// obs["images"]["cam_high"], as openpi's ALOHA policy takes it; `\.` is a literal dot); `/` is part of a key
// (`observation/image`, as openpi's LIBERO and DROID policies take it). Examples:
//   LIBERO: observation/image=top,observation/wrist_image=wrist,state=observation/state,horizon=10,dim=7
//   DROID:  observation/exterior_image_1_left=top,observation/wrist_image_left=wrist,
//           state=observation/joint_position[0:7],state=observation/gripper_position[7:8],horizon=15,dim=8
//   ALOHA:  images.cam_high=top:chw,images.cam_left_wrist=left_wrist:chw,state=state,horizon=50,dim=14
export interface OpenpiImageSlot {
  /** Path of the key in the observation map (one element for a flat key). */
  key: string[];
  camera: string;
  width: number;
  height: number;
  layout: 'hwc' | 'chw';
}

export interface OpenpiStateSlot {
  key: string[];
  /** The runtime state's values from..to-1 (to undefined: to the end). */
  from: number;
  to: number | undefined;
}

export interface OpenpiMapping {
  images: OpenpiImageSlot[];
  state: OpenpiStateSlot[];
  state_dtype: 'f4' | 'f8';
  prompt_key: string[] | undefined;
  prompt_text: string | undefined;
  horizon: number;
  action_dim: number;
  action_offset: number;
  control_hz: number | undefined;
}

/** What a spec may leave out because the caller knows it (the robot's action dimension, the server's policy). */
export interface MappingDefaults {
  horizon?: number;
  action_dim?: number;
  action_offset?: number;
  control_hz?: number;
}

export class OpenpiMappingError extends Error {
  override name = 'OpenpiMappingError';
}

export const DEFAULT_IMAGE_SIZE = 224;
const SETTINGS = ['state', 'state_dtype', 'prompt', 'text', 'horizon', 'dim', 'offset', 'hz'];

/** Splits on unescaped `sep`; `\x` stays escaped for the next level. */
function splitEscaped(s: string, sep: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '\\' && i + 1 < s.length) cur += s[i] + s[++i];
    else if (s[i] === sep) {
      out.push(cur);
      cur = '';
    } else cur += s[i];
  }
  out.push(cur);
  return out;
}

const unescapeAll = (s: string): string => s.replace(/\\(.)/g, '$1');

function keyPath(raw: string, item: string): string[] {
  const path = splitEscaped(raw, '.').map(unescapeAll);
  if (path.some((p) => p === '')) throw new OpenpiMappingError(`'${item}': empty key (or an empty part of a.b)`);
  return path;
}

function integer(value: string, what: string, min: number): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n) || n < min)
    throw new OpenpiMappingError(`${what} must be an integer >= ${min}, got '${value}'`);
  return n;
}

function imageSlot(name: string, value: string, item: string): OpenpiImageSlot {
  const m = /^([^@:]+)(?:@(\d+)x(\d+))?(?::(hwc|chw))?$/.exec(unescapeAll(value).trim());
  if (!m) throw new OpenpiMappingError(`'${item}': expected KEY=CAMERA[@WxH][:chw] (e.g. observation/image=top)`);
  const width = m[2] ? integer(m[2], `'${item}': width`, 1) : DEFAULT_IMAGE_SIZE;
  const height = m[3] ? integer(m[3], `'${item}': height`, 1) : DEFAULT_IMAGE_SIZE;
  return { key: keyPath(name, item), camera: m[1], width, height, layout: (m[4] as 'hwc' | 'chw') ?? 'hwc' };
}

function stateSlot(value: string, item: string): OpenpiStateSlot {
  const m = /^(.*?)(?:\[(\d+):(\d*)\])?$/.exec(value.trim());
  if (!m?.[1]) throw new OpenpiMappingError(`'${item}': expected state=KEY or state=KEY[A:B]`);
  const from = m[2] ? Number(m[2]) : 0;
  const to = m[3] ? Number(m[3]) : undefined;
  if (to !== undefined && to <= from) throw new OpenpiMappingError(`'${item}': the slice [${from}:${to}] is empty`);
  return { key: keyPath(m[1], item), from, to };
}

/** Parses a `--openpi-map` spec (syntax in the file header); throws OpenpiMappingError naming the bad item. */
export function parseOpenpiMapping(spec: string, defaults: MappingDefaults = {}): OpenpiMapping {
  const m: OpenpiMapping = {
    images: [],
    state: [],
    state_dtype: 'f4',
    prompt_key: ['prompt'],
    prompt_text: undefined,
    horizon: defaults.horizon ?? 0,
    action_dim: defaults.action_dim ?? 0,
    action_offset: defaults.action_offset ?? 1,
    control_hz: defaults.control_hz,
  };
  let stateGiven = false;
  for (const raw of splitEscaped(spec, ',')) {
    const item = raw.trim();
    if (item === '') continue;
    const eq = item.search(/(?<!\\)=/);
    if (eq <= 0) throw new OpenpiMappingError(`'${item}': expected NAME=VALUE`);
    const name = item.slice(0, eq).trim();
    const value = item.slice(eq + 1).trim();
    if (!SETTINGS.includes(name)) {
      m.images.push(imageSlot(name, value, item));
      continue;
    }
    if (name === 'state') {
      stateGiven = true;
      if (value !== '') m.state.push(stateSlot(value, item));
    } else if (name === 'state_dtype') {
      if (value !== 'f4' && value !== 'f8') throw new OpenpiMappingError(`'${item}': state_dtype is f4 or f8`);
      m.state_dtype = value;
    } else if (name === 'prompt') m.prompt_key = value === '' ? undefined : keyPath(value, item);
    else if (name === 'text') m.prompt_text = unescapeAll(value);
    else if (name === 'horizon') m.horizon = integer(value, 'horizon', 1);
    else if (name === 'dim') m.action_dim = integer(value, 'dim', 1);
    else if (name === 'offset') m.action_offset = integer(value, 'offset', 0);
    else if (name === 'hz') {
      const hz = Number(value);
      if (!(hz > 0 && Number.isFinite(hz)))
        throw new OpenpiMappingError(`hz must be a positive number, got '${value}'`);
      m.control_hz = hz;
    }
  }
  if (!stateGiven) m.state.push({ key: ['observation/state'], from: 0, to: undefined });
  checkMapping(m);
  return m;
}

/** Problems a whole mapping can have, whichever way it was built. */
export function checkMapping(m: OpenpiMapping): void {
  if (!(m.horizon >= 1)) throw new OpenpiMappingError('horizon: say how many actions a reply holds (horizon=H)');
  if (!(m.action_dim >= 1)) throw new OpenpiMappingError('dim: say how many values an action has (dim=D)');
  const keys = [...m.images.map((i) => i.key), ...m.state.map((s) => s.key)];
  if (m.prompt_key) keys.push(m.prompt_key);
  const seen = new Set<string>();
  for (const k of keys) {
    const id = JSON.stringify(k);
    if (seen.has(id)) throw new OpenpiMappingError(`key '${formatKey(k)}' is used twice`);
    seen.add(id);
  }
  for (const a of keys)
    for (const b of keys)
      if (a !== b && a.length < b.length && a.every((p, i) => p === b[i]))
        throw new OpenpiMappingError(`key '${formatKey(a)}' is both a value and a map of '${formatKey(b)}'`);
  for (let i = 1; i < m.state.length; i++) {
    const prev = m.state[i - 1];
    if (prev.to === undefined || m.state[i].from !== prev.to)
      throw new OpenpiMappingError(
        `state: the slices must cover the state in order (state=KEY[0:A],state=KEY2[A:B],...); ` +
          `'${formatKey(m.state[i].key)}' starts at ${m.state[i].from}, the one before ends at ${prev.to ?? 'the end'}`,
      );
  }
}

const escapeKeyPart = (p: string): string => p.replace(/([\\,.=])/g, '\\$1');
export const formatKey = (k: string[]): string => k.join('.');

/** The spec string of a mapping (what `vla-run --openpi-map` takes), e.g. for a server's metadata. */
export function formatOpenpiMapping(m: OpenpiMapping): string {
  const key = (k: string[]) => k.map(escapeKeyPart).join('.');
  const items = m.images.map(
    (i) => `${key(i.key)}=${i.camera}@${i.width}x${i.height}${i.layout === 'chw' ? ':chw' : ''}`,
  );
  if (m.state.length === 0) items.push('state=');
  for (const s of m.state)
    items.push(`state=${key(s.key)}${s.to !== undefined || s.from > 0 ? `[${s.from}:${s.to ?? ''}]` : ''}`);
  if (m.state_dtype !== 'f4') items.push(`state_dtype=${m.state_dtype}`);
  items.push(`prompt=${m.prompt_key ? key(m.prompt_key) : ''}`);
  if (m.prompt_text !== undefined) items.push(`text=${m.prompt_text.replace(/([\\,])/g, '\\$1')}`);
  items.push(`horizon=${m.horizon}`, `dim=${m.action_dim}`, `offset=${m.action_offset}`);
  if (m.control_hz !== undefined) items.push(`hz=${m.control_hz}`);
  return items.join(',');
}
