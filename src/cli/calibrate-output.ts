// vla-calibrate's --out: a directory that receives <arm>_follower.json. Checked before any port is opened
// (bad input is exit 2 with one line, and nothing has moved): it must be a directory or creatable as one,
// and a previous calibration in it is replaced only with --force. The directory itself is created when
// the files are written, so a refused calibration leaves nothing behind.
import { constants } from 'node:fs';
import { access, mkdir, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { AlohaSide } from '../../protocols/aloha/motor-map.js';
import { UsageError } from './common.js';

const WHY: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on the device',
  ENOTDIR: 'a part of the path is a file',
  EEXIST: 'a file of that name exists',
  ENOENT: 'no such directory',
};

/** A file system error as words (its code in brackets), never a raw 'ENOENT: ...' text. */
export function fsReason(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  return code ? `${WHY[code] ?? 'cannot'} (${code})` : String((err as Error).message ?? err);
}

async function statOrUndefined(path: string) {
  try {
    return await stat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new UsageError(`--out ${path}: ${fsReason(err)}`);
  }
}

export interface OutputPlan {
  dir: string;
  files: Partial<Record<AlohaSide, string>>;
  /** Files that exist now (replaced, with --force). */
  existing: Partial<Record<AlohaSide, string>>;
}

export async function planOutput(out: string, sides: readonly AlohaSide[], force: boolean): Promise<OutputPlan> {
  const dir = resolve(out);
  const st = await statOrUndefined(dir);
  if (st && !st.isDirectory())
    throw new UsageError(
      `--out ${out} is a file; it must be a directory (vla-calibrate writes <arm>_follower.json into it)`,
    );
  // the nearest existing ancestor must be a directory we may write into
  let probe = dir;
  while (!(await statOrUndefined(probe))) probe = dirname(probe);
  if (!(await stat(probe)).isDirectory())
    throw new UsageError(`--out ${out}: ${probe} is a file, so the directory cannot be created there`);
  try {
    await access(probe, constants.W_OK);
  } catch (err) {
    throw new UsageError(`--out ${out}: cannot write into ${probe}: ${fsReason(err)}`);
  }
  const plan: OutputPlan = { dir, files: {}, existing: {} };
  for (const side of sides) {
    const file = join(dir, `${side}_follower.json`);
    plan.files[side] = file;
    const f = await statOrUndefined(file);
    if (!f) continue;
    if (!f.isFile()) throw new UsageError(`--out ${out}: ${file} exists and is not a file`);
    if (!force)
      throw new UsageError(
        `--out ${out}: ${file} exists (an earlier calibration); it is replaced only with --force, nothing was done`,
      );
    plan.existing[side] = file;
  }
  return plan;
}

/** Create the directory at write time; a failure is one clear line (exit 2). */
export async function makeOutputDir(plan: OutputPlan): Promise<void> {
  try {
    await mkdir(plan.dir, { recursive: true });
  } catch (err) {
    throw new UsageError(`--out ${plan.dir}: cannot create the directory: ${fsReason(err)}; nothing was written`);
  }
}
