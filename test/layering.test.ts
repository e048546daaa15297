// The layers of the code base, checked on the import graph of the TypeScript sources (not of dist/):
// a driver only reads and writes (no runtime, no sim, no policy); the simulator is a robot of its own
// that does not know the runtime; protocols and calibration files are leaves; the CLI is the top.
// Also the house rules a linter does not check: no line over 120 characters, no file over 400 lines.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SOURCE_DIRS = ['bin', 'bench', 'calibration', 'drivers', 'protocols', 'sim', 'src', 'test'];

/** An import: the file that has it, and the repository path (relative import) or package name it names. */
interface ImportEdge {
  from: string;
  to: string;
  is_package: boolean;
}

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
    const path = `${dir}/${e.name}`;
    if (e.isDirectory()) out.push(...sourceFiles(path));
    else if (/\.(ts|js|mjs)$/.test(e.name) && !e.name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

const IMPORT = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)['"]([^'"]+)['"]/gm;

function importsOf(file: string): ImportEdge[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  return [...text.matchAll(IMPORT)].map(([, spec]) => {
    if (!spec.startsWith('.')) return { from: file, to: packageName(spec), is_package: true };
    // bin/ starts the compiled CLI: dist/src/x.js is src/x.ts
    const to = relative(ROOT, normalize(join(ROOT, dirname(file), spec)))
      .replace(/^dist\//, '')
      .replace(/\.js$/, '.ts');
    return { from: file, to, is_package: to.startsWith('node_modules/') };
  });
}

const packageName = (spec: string) =>
  (spec.startsWith('@') ? spec.split('/').slice(0, 2) : spec.split('/', 1)).join('/');

/** The layer a file belongs to: its top folder, or src/<folder>. */
function layer(path: string): string {
  const parts = path.split('/');
  return parts[0] === 'src' && parts.length > 2 ? `src/${parts[1]}` : parts[0];
}

const FILES = SOURCE_DIRS.flatMap(sourceFiles);
const EDGES = FILES.flatMap(importsOf);

/** For each layer, the layers its files may import (besides their own). Unlisted layers may import anything. */
const MAY_IMPORT: Record<string, readonly string[]> = {
  'src/util': [],
  protocols: ['src/util'],
  calibration: ['protocols'],
  'src/codecs': ['src/util'],
  'src/telemetry': ['src/util'],
  'src/plot': ['src/util'],
  'src/robot': ['calibration', 'protocols', 'src/util'],
  drivers: ['protocols', 'calibration', 'src/robot', 'src/util', 'src/codecs', 'src/telemetry'],
  sim: ['protocols', 'calibration', 'src/robot', 'src/util', 'src/codecs', 'src/telemetry', 'drivers', 'src/policy'],
  // protocols: the policy server's wire format (remote/), shared by the client and vla-serve
  'src/policy': ['protocols', 'src/robot', 'src/util', 'src/codecs', 'src/telemetry'],
  'src/recording': ['src/codecs', 'src/util', 'src/robot'],
  'src/runtime': ['drivers', 'protocols', 'calibration', 'src/robot', 'src/policy', 'src/util', 'src/telemetry', 'sim'],
  'src/calibrate': ['calibration', 'drivers', 'protocols', 'src/util', 'src/telemetry'],
  'src/train': ['src/plot', 'src/policy', 'src/recording', 'src/robot', 'src/util', 'src/telemetry'],
  'src/dataset': ['src/recording', 'src/robot', 'src/util', 'src/telemetry', 'drivers'],
  'src/world': [
    ...['calibration', 'drivers', 'protocols', 'sim', 'src/policy', 'src/runtime', 'src/robot', 'src/codecs'],
    ...['src/telemetry', 'src/util'],
  ],
  'src/latency': ['src/runtime', 'src/robot', 'src/util'],
  'src/replay': [
    ...['drivers', 'sim', 'src/dataset', 'src/latency', 'src/plot', 'src/policy', 'src/recording', 'src/robot'],
    ...['src/runtime', 'src/util', 'src/world', 'src/telemetry', 'src/codecs'],
  ],
  'src/rl': [
    ...['protocols', 'sim', 'src/plot', 'src/policy', 'src/recording', 'src/robot', 'src/runtime', 'src/train'],
    ...['src/util', 'src/world', 'src/telemetry', 'drivers', 'calibration'],
  ],
  // the top: every layer but the entry points and the tests
  'src/cli': [
    ...['calibration', 'drivers', 'protocols', 'sim', 'src/calibrate', 'src/codecs', 'src/dataset', 'src/latency'],
    ...['src/plot', 'src/policy', 'src/recording', 'src/replay', 'src/rl', 'src/robot', 'src/runtime'],
    ...['src/telemetry', 'src/train', 'src/util', 'src/world'],
  ],
  bin: ['src/cli'],
};

/**
 * Narrow doors through otherwise closed layers: the one file of the target layer that may be imported.
 * The simulator is driven through the same driver contract as a robot and runs the same policies (experts);
 * the control thread builds the simulated driver like any other.
 */
const ONLY_THROUGH: Record<string, Record<string, readonly string[]>> = {
  sim: { drivers: ['drivers/driver.ts'], 'src/policy': ['src/policy/policy.ts'] },
  'src/runtime': { sim: ['sim/sim-driver.ts'] },
  // LeRobot videos are decoded and encoded with the same ffmpeg the camera driver finds
  'src/dataset': { drivers: ['drivers/cameras/ffmpeg-path.ts'] },
};

/**
 * Packages tied to one layer: the physics engine to the simulator, inference to policies and training, TensorFlow.js
 * to training and RL.
 */
const PACKAGE_HOMES: Record<string, readonly string[]> = {
  '@mujoco/mujoco': ['sim'],
  'onnxruntime-node': ['src/policy', 'src/train'],
  '@tensorflow/tfjs': ['src/train', 'src/rl'],
  '@tensorflow/tfjs-backend-wasm': ['src/train', 'src/rl'],
  roslib: ['drivers'],
};

test('the import graph was read (the checks below see real edges)', () => {
  const crossing = EDGES.filter((e) => !e.is_package && layer(e.from) !== layer(e.to));
  assert.ok(FILES.length > 150, `${FILES.length} source files`);
  assert.ok(crossing.length > 300, `${crossing.length} imports across layers`);
  assert.ok(
    EDGES.some((e) => e.from === 'drivers/dynamixel/bus.ts' && e.to === 'protocols/dynamixel/packet.ts'),
    'a known edge is found',
  );
  assert.ok(EDGES.some((e) => e.from === 'sim/mujoco.ts' && e.to === '@mujoco/mujoco' && e.is_package));
});

test('each layer imports only the layers below it', () => {
  const wrong: string[] = [];
  for (const e of EDGES) {
    const [from, to] = [layer(e.from), layer(e.to)];
    if (e.is_package || from === to || !(from in MAY_IMPORT)) continue;
    if (!MAY_IMPORT[from].includes(to)) wrong.push(`${e.from} -> ${e.to} (${from} may not import ${to})`);
    const door = ONLY_THROUGH[from]?.[to];
    if (door && !door.includes(e.to)) wrong.push(`${e.from} -> ${e.to} (${from} reaches ${to} only via ${door})`);
  }
  assert.deepEqual(wrong, []);
});

test('nothing but the command line, its entry points, benchmarks and tests imports src/cli', () => {
  const wrong = EDGES.filter(
    (e) => layer(e.to) === 'src/cli' && !['src/cli', 'bin', 'bench', 'test'].includes(layer(e.from)),
  );
  assert.deepEqual(
    wrong.map((e) => `${e.from} -> ${e.to}`),
    [],
  );
});

test('heavy native packages stay in their layer', () => {
  const wrong: string[] = [];
  for (const e of EDGES) {
    const homes = PACKAGE_HOMES[e.to];
    const from = layer(e.from);
    if (e.is_package && homes && !homes.includes(from) && from !== 'test' && from !== 'bench')
      wrong.push(`${e.from} imports ${e.to} (only ${homes.join(', ')} may)`);
  }
  assert.deepEqual(wrong, []);
});

test('no line over 120 characters, no file over 400 lines', () => {
  const wrong: string[] = [];
  for (const file of FILES) {
    const lines = readFileSync(join(ROOT, file), 'utf8').split('\n');
    if (lines.length > 401) wrong.push(`${file}: ${lines.length} lines`);
    lines.forEach((l, i) => {
      if (l.length > 120) wrong.push(`${file}:${i + 1}: ${l.length} characters`);
    });
  }
  assert.deepEqual(wrong, []);
});
