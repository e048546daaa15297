// The manifest as a JSON Schema (draft 2020-12), generated from the zod schema in manifest.ts so the two
// cannot drift: `vla-manifest schema` prints it and the package ships it as schema/vla-manifest.schema.json
// (a test regenerates it and compares). It describes what a manifest file may contain (defaults not yet
// applied); the cross-field rules (stat lengths, output shape = [1, horizon, dim], semantics) are zod's
// refinements and are checked when a manifest is read, not by the JSON Schema.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { ManifestSchema } from './manifest.js';

const NORM =
  'How raw values map to what the model sees: identity; mean_std: n = (x - mean) / (std + eps); min_max: ' +
  'n = 2 (x - min) / (max - min + eps) - 1. Model outputs are un-normalised with the inverse (without eps).';

/** Descriptions by property path ('[]' for array items); '*.' matches the end of any path. */
const DESCRIPTIONS: Record<string, string> = {
  format_version: 'Manifest format version: 1.',
  name: 'Model name, for messages and summaries.',
  robot: 'The robot the model was trained for (ur5, ur5e, aloha); checked against the robot it is run on.',
  control_hz: "The control rate the model was trained at (Hz); one chunk row per tick. Must match the robot's rate.",
  action: 'The chunk the model outputs: `horizon` actions of `dim` values.',
  'action.dim': "Values per action; the robot's action size (ur5/ur5e 7: 6 joints + gripper; aloha 14).",
  'action.horizon': 'Actions per chunk (H).',
  'action.offset': 'actions[0] is for control tick obs_tick + offset (default 1).',
  'action.names': "Optional name of each action value, in order; vla-manifest check compares them to the robot's.",
  'action.semantics': "Only 'absolute_joint_positions': joint targets in rad, grippers 0 closed .. 1 open.",
  '*.normalization': NORM,
  'inputs.images[].normalize.scale': 'Multiplies the 0..255 bytes first (1/255: pixels in 0..1).',
  'inputs.images[].normalize.mean': 'Per channel (R, G, B), after scaling.',
  'inputs.images[].normalize.std': 'Per channel (R, G, B), after scaling.',
  '*.mean': 'Per-dimension mean.',
  '*.std': 'Per-dimension standard deviation.',
  '*.min': 'Per-dimension minimum.',
  '*.max': 'Per-dimension maximum.',
  '*.eps': 'Added to the denominator when normalising (default 1e-8).',
  inputs: 'The ONNX inputs the runtime feeds; every input of the graph must be described here.',
  'inputs.images': 'One entry per camera input.',
  'inputs.images[].input': 'ONNX input name.',
  'inputs.images[].camera': 'The robot camera that feeds it (a camera name of the robot profile).',
  'inputs.images[].height': 'Height the frame is fed at (frames of another size are resized, bilinear).',
  'inputs.images[].width': 'Width the frame is fed at.',
  'inputs.images[].layout': 'NCHW: [1, 3, H, W]; NHWC: [1, H, W, 3].',
  'inputs.images[].dtype': 'float32 (normalised as `normalize` says) or uint8 (raw RGB bytes).',
  'inputs.images[].normalize':
    'float32 only: v = (rgb * scale - mean[c]) / std[c] per channel; absent: scale 1/255, mean 0, std 1.',
  'inputs.state': 'float32 [1, dim]: the robot state in action layout (joint positions in rad, grippers 0..1).',
  'inputs.state.input': 'ONNX input name.',
  'inputs.state.dim': "State size; the robot's action size.",
  'inputs.language':
    'Optional instruction input: int64 token ids [1, length] or a float32 embedding [1, dim]. The runtime has no ' +
    'tokenizer yet and feeds zeros.',
  'inputs.committed':
    'Optional: float32 [1, max_length, action dim], the actions already committed for ticks obs_tick+1..., for ' +
    'models trained to continue them.',
  output: 'The ONNX output holding the chunk: float32 [1, horizon, dim].',
  'output.name': 'ONNX output name.',
  'output.shape': '[1, action.horizon, action.dim].',
};

type Node = Record<string, unknown>;

/** The JSON Schema of a manifest file. */
export function manifestJsonSchema(): Node {
  const generated = z.toJSONSchema(ManifestSchema, { io: 'input', unrepresentable: 'any' }) as Node;
  const { $schema, ...body } = generated;
  const schema: Node = {
    $schema,
    title: 'vla-runtime ONNX policy manifest',
    description:
      "What vla-runtime must know to feed an ONNX policy and read its output. Stored in the model's metadata_props " +
      "key 'vla_manifest' or in a sidecar <model>.manifest.json next to it (the sidecar wins). Generated from the " +
      'zod schema in src/policy/onnx/manifest.ts: regenerate with `vla-manifest schema --out FILE`.',
    ...body,
  };
  describe(schema, '');
  return schema;
}

/** The schema as the shipped file holds it (2-space JSON and a final newline). */
export function manifestJsonSchemaText(): string {
  return `${JSON.stringify(manifestJsonSchema(), null, 2)}\n`;
}

/** schema/vla-manifest.schema.json of the package (next to dist/ once built). */
export function shippedSchemaPath(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const root = here.includes(join('dist', 'src')) ? join(here, '..', '..', '..', '..') : join(here, '..', '..', '..');
  return join(root, 'schema', 'vla-manifest.schema.json');
}

function describe(node: Node, path: string): void {
  const props = node.properties as Record<string, Node> | undefined;
  if (props) {
    for (const [key, child] of Object.entries(props)) {
      const p = path ? `${path}.${key}` : key;
      const text = DESCRIPTIONS[p] ?? DESCRIPTIONS[`*.${key}`];
      if (text && child.description === undefined) props[key] = { description: text, ...child };
      describe(props[key], p);
    }
  }
  if (node.items && typeof node.items === 'object') describe(node.items as Node, `${path}[]`);
  for (const key of ['oneOf', 'anyOf', 'allOf'] as const) {
    const list = node[key] as Node[] | undefined;
    if (Array.isArray(list)) for (const b of list) describe(b, path);
  }
}
