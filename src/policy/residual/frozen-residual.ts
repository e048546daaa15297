// A trained residual as the runtime runs it: its ONNX file, checked against the robot and the base policy, then
// evaluated deterministically in the control tick. The file's bytes travel to the control thread, which builds
// its own corrector from them (nothing is shared between the threads but the bytes).
import type { RobotDescription } from '../../robot/index.js';
import { checkBlocks, deterministicUnit, ResidualCorrector } from './residual-corrector.js';
import { ResidualLoadError } from './residual-manifest.js';
import { parseResidualOnnx } from './residual-onnx.js';

/** A residual file as the command line read it (see loadResidualOnnx); what the control thread is sent. */
export interface ResidualFile {
  path: string;
  bytes: Uint8Array;
}

/** `features`: values per chunk the base model gives (its features output; 0 without one). */
export function frozenResidual(desc: RobotDescription, file: ResidualFile, features = 0): ResidualCorrector {
  const { manifest, net } = parseResidualOnnx(file.path, file.bytes);
  try {
    checkBlocks(desc, manifest, features);
  } catch (err) {
    throw new ResidualLoadError(`${file.path}: ${(err as Error).message}`);
  }
  return new ResidualCorrector(desc, manifest, deterministicUnit(net));
}
