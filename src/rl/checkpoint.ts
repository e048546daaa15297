// Checkpoints of a fine-tuning run: one folder holding `state.json` (counters, config, RNG states, and where each
// array is) and `arrays.bin` (every Float32Array back to back), with the bin file's SHA-256 in the JSON so a
// damaged checkpoint is named as such instead of loading garbage. Written atomically: into a temporary folder
// beside the target, flushed, then renamed, so a crash leaves the previous checkpoint or the new one, never half.
import { createHash } from 'node:crypto';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

export const CHECKPOINT_FORMAT = 1;
const STATE_FILE = 'state.json';
const ARRAYS_FILE = 'arrays.bin';

/** A checkpoint that cannot be read: missing, damaged, another format. */
export class CheckpointError extends Error {}

type ArrayRef = { $f32: [offset: number, length: number] };

/** Writes `state` (any JSON-able value whose leaves may be Float32Arrays) as the checkpoint folder `dir`. */
export async function writeCheckpoint(dir: string, state: unknown): Promise<void> {
  const arrays: Float32Array[] = [];
  let offset = 0;
  const json = JSON.stringify(state, (_key, value: unknown) => {
    if (!(value instanceof Float32Array)) return value;
    const ref: ArrayRef = { $f32: [offset, value.length] };
    arrays.push(value);
    offset += value.length;
    return ref;
  });
  const bin = Buffer.alloc(offset * 4);
  let at = 0;
  for (const a of arrays) {
    bin.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), at);
    at += a.byteLength;
  }
  const sha256 = createHash('sha256').update(bin).digest('hex');
  const head = `{"format":${CHECKPOINT_FORMAT},"arrays_sha256":"${sha256}","state":${json}}\n`;
  const tmp = join(dirname(dir), `.${basename(dir)}.tmp-${process.pid}`);
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  await writeSynced(join(tmp, ARRAYS_FILE), bin);
  await writeSynced(join(tmp, STATE_FILE), Buffer.from(head));
  // replacing one (an older checkpoint rewritten without its buffers): the old folder moves aside first, so a crash
  // at any point leaves one whole checkpoint under one of the two names
  const old = join(dirname(dir), `.${basename(dir)}.old-${process.pid}`);
  const replaced = await rename(dir, old).then(
    () => true,
    (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return false;
      throw err;
    },
  );
  await rename(tmp, dir);
  if (replaced) await rm(old, { recursive: true, force: true });
}

/** Reads a checkpoint folder back into the value that was written. */
export async function readCheckpoint<T>(dir: string): Promise<T> {
  const read = async (file: string): Promise<Buffer> => {
    try {
      return await readFile(join(dir, file));
    } catch (err) {
      throw new CheckpointError(`${dir}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? err})`);
    }
  };
  const [text, bin] = [await read(STATE_FILE), await read(ARRAYS_FILE)];
  let head: { format?: unknown; arrays_sha256?: unknown; state?: unknown };
  try {
    head = JSON.parse(text.toString('utf8'));
  } catch (err) {
    throw new CheckpointError(`${dir}/${STATE_FILE}: not valid JSON (${(err as Error).message})`);
  }
  if (head.format !== CHECKPOINT_FORMAT)
    throw new CheckpointError(`${dir}: checkpoint format ${head.format}, this version reads ${CHECKPOINT_FORMAT}`);
  const sha256 = createHash('sha256').update(bin).digest('hex');
  if (head.arrays_sha256 !== sha256)
    throw new CheckpointError(`${dir}/${ARRAYS_FILE}: damaged (its SHA-256 differs from the one in ${STATE_FILE})`);
  const floats = new Float32Array(bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength));
  const revive = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(revive);
    if (value === null || typeof value !== 'object') return value;
    const ref = (value as Partial<ArrayRef>).$f32;
    if (ref) {
      const [off, len] = ref;
      if (!(off >= 0 && len >= 0 && off + len <= floats.length))
        throw new CheckpointError(`${dir}: an array reference points outside ${ARRAYS_FILE}`);
      return floats.slice(off, off + len);
    }
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, revive(v)]));
  };
  return revive(head.state) as T;
}

async function writeSynced(path: string, data: Buffer): Promise<void> {
  const fh = await open(path, 'w');
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
}
