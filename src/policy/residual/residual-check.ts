// `--residual file.onnx`: read it and check it belongs to this run before anything moves: the base policy must be
// the very model file it was trained on (SHA-256), for the same robot, action layout and rate. Anything else is a
// ResidualLoadError (exit 2 at the command line), with expected vs found.
import { readFile } from 'node:fs/promises';
import type { RobotDescription } from '../../robot/index.js';
import { loadModelManifest } from '../onnx/onnx-file.js';
import type { ResidualFile } from './frozen-residual.js';
import { checkBlocks } from './residual-corrector.js';
import { ResidualLoadError } from './residual-manifest.js';
import { fileSha256, parseResidualOnnx } from './residual-onnx.js';

export async function loadResidualFor(
  path: string,
  basePolicy: string | undefined,
  desc: RobotDescription,
): Promise<ResidualFile> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw new ResidualLoadError(`--residual ${path}: cannot read it (${(err as NodeJS.ErrnoException).code ?? err})`);
  }
  const { manifest: m } = parseResidualOnnx(path, bytes);
  const short = (h: string) => h.slice(0, 12);
  if (basePolicy === undefined || !basePolicy.endsWith('.onnx'))
    throw new ResidualLoadError(
      `--residual ${path} corrects ${m.base.name} (sha256 ${short(m.base.sha256)}...): give that model as ` +
        `--policy <file.onnx> (found ${basePolicy === undefined ? 'none' : `'${basePolicy}'`})`,
    );
  let sha: string;
  try {
    sha = await fileSha256(basePolicy);
  } catch (err) {
    throw new ResidualLoadError(`--policy ${basePolicy}: cannot read it (${(err as NodeJS.ErrnoException).code})`);
  }
  if (sha !== m.base.sha256)
    throw new ResidualLoadError(
      `--residual ${path} was trained on another base model: expected ${m.base.name} (sha256 ` +
        `${short(m.base.sha256)}...), found ${basePolicy} (sha256 ${short(sha)}...)`,
    );
  if (m.robot !== desc.robot)
    throw new ResidualLoadError(`--residual ${path}: made for robot ${m.robot}, this run drives ${desc.robot}`);
  if (m.control_hz !== desc.control_hz)
    throw new ResidualLoadError(
      `--residual ${path}: trained at ${m.control_hz} Hz, this run ticks at ${desc.control_hz} Hz`,
    );
  try {
    checkBlocks(desc, m, (await loadModelManifest(basePolicy)).manifest.features?.dim ?? 0);
  } catch (err) {
    throw new ResidualLoadError(`--residual ${path}: ${(err as Error).message}`);
  }
  return { path, bytes };
}
