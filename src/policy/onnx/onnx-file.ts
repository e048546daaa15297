// Reads what the runtime needs from an ONNX file before handing it to onnxruntime: is it ONNX at
// all, and its metadata_props (where the manifest may live). Only the top level of the ModelProto is
// walked, with positioned reads, so the graph and its weights (gigabytes for a VLA) are skipped
// rather than decoded or even read.
import { open, readFile, stat } from 'node:fs/promises';
import onnxProto from 'onnx-proto';
import { MANIFEST_METADATA_KEY, type OnnxManifest, PolicyLoadError, parseManifest } from './manifest.js';

const { onnx } = onnxProto;

export interface OnnxFileInfo {
  path: string;
  size_bytes: number;
  ir_version: number;
  opset_imports: { domain: string; version: number }[];
  producer_name: string;
  metadata: Record<string, string>;
}

// ModelProto field numbers (onnx.proto) and the wire type each must have.
const FIELD_WIRE: Record<number, number> = { 1: 0, 2: 2, 3: 2, 4: 2, 5: 0, 6: 2, 7: 2, 8: 2, 14: 2, 20: 2, 25: 2 };
// Small fields worth decoding; anything bigger than this is not metadata.
const MAX_DECODED_FIELD_BYTES = 64 << 20;

class NotOnnx extends Error {}

export async function readOnnxFileInfo(path: string): Promise<OnnxFileInfo> {
  let size: number;
  try {
    const st = await stat(path);
    if (!st.isFile()) throw new PolicyLoadError(`${path}: not a file`);
    size = st.size;
  } catch (err) {
    if (err instanceof PolicyLoadError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new PolicyLoadError(
      code === 'ENOENT' ? `${path}: model file not found` : `${path}: cannot read the model (${code ?? String(err)})`,
    );
  }
  const fh = await open(path, 'r');
  try {
    return await scan(path, size, (buf, pos) => fh.read(buf, 0, buf.length, pos).then((r) => r.bytesRead));
  } catch (err) {
    if (err instanceof NotOnnx) throw new PolicyLoadError(`${path}: not an ONNX model (${err.message})`);
    throw err;
  } finally {
    await fh.close();
  }
}

type ReadAt = (buf: Uint8Array, pos: number) => Promise<number>;

async function scan(path: string, size: number, readAt: ReadAt): Promise<OnnxFileInfo> {
  if (size === 0) throw new NotOnnx('the file is empty');
  const info: OnnxFileInfo = {
    path,
    size_bytes: size,
    ir_version: -1,
    opset_imports: [],
    producer_name: '',
    metadata: {},
  };
  let hasGraph = false;
  const head = new Uint8Array(20);
  let pos = 0;
  while (pos < size) {
    const n = await readAt(head, pos);
    const v = new VarintCursor(head.subarray(0, n));
    const tag = v.next();
    const field = Math.floor(tag / 8);
    const wire = tag % 8;
    if (FIELD_WIRE[field] !== undefined && FIELD_WIRE[field] !== wire)
      throw new NotOnnx(`field ${field} has wire type ${wire} at byte ${pos}`);
    if (field === 0 || wire === 3 || wire === 4 || wire > 5) throw new NotOnnx(`bad protobuf tag at byte ${pos}`);
    if (wire === 0) {
      const value = v.next();
      if (field === 1) info.ir_version = value;
      pos += v.offset;
    } else if (wire === 1 || wire === 5) {
      pos += v.offset + (wire === 1 ? 8 : 4);
    } else {
      const len = v.next();
      const start = pos + v.offset;
      if (start + len > size) throw new NotOnnx(`field ${field} runs past the end of the file`);
      if (field === 7) hasGraph = true;
      else if ((field === 2 || field === 8 || field === 14) && len <= MAX_DECODED_FIELD_BYTES) {
        const body = new Uint8Array(len);
        if ((await readAt(body, start)) !== len) throw new NotOnnx('short read');
        decodeField(info, field, body);
      }
      pos = start + len;
    }
  }
  if (pos !== size) throw new NotOnnx('the last field runs past the end of the file');
  if (info.ir_version < 1 || info.ir_version > 100)
    throw new NotOnnx(info.ir_version < 0 ? 'no ir_version' : `implausible ir_version ${info.ir_version}`);
  if (!hasGraph) throw new NotOnnx('no graph');
  return info;
}

function decodeField(info: OnnxFileInfo, field: number, body: Uint8Array): void {
  try {
    if (field === 2) info.producer_name = new TextDecoder('utf-8', { fatal: true }).decode(body);
    if (field === 8) {
      const op = onnx.OperatorSetIdProto.decode(body);
      info.opset_imports.push({ domain: op.domain, version: Number(op.version) });
    }
    if (field === 14) {
      const kv = onnx.StringStringEntryProto.decode(body);
      info.metadata[kv.key] = kv.value;
    }
  } catch (err) {
    throw new NotOnnx(`field ${field} does not decode (${(err as Error).message})`);
  }
}

/** Reads protobuf varints from a small buffer; numbers above 2^53 are not expected at the top level. */
class VarintCursor {
  offset = 0;
  constructor(private readonly buf: Uint8Array) {}
  next(): number {
    let value = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (this.offset >= this.buf.length) throw new NotOnnx('truncated varint');
      const b = this.buf[this.offset++];
      value += (b & 0x7f) * mul;
      if (b < 0x80) return value;
      mul *= 128;
    }
    throw new NotOnnx('varint longer than 10 bytes');
  }
}

/** `model.onnx` -> `model.manifest.json`; other names get `.manifest.json` appended. */
export function sidecarPath(modelPath: string): string {
  return modelPath.toLowerCase().endsWith('.onnx')
    ? `${modelPath.slice(0, -5)}.manifest.json`
    : `${modelPath}.manifest.json`;
}

export interface LoadedManifest {
  manifest: OnnxManifest;
  /** Where it came from: the sidecar's path, or `<model>#metadata_props`. */
  source: string;
  file: OnnxFileInfo;
}

/** The model's manifest: the sidecar if there is one (it wins), else the file's metadata_props. */
export async function loadModelManifest(modelPath: string): Promise<LoadedManifest> {
  const file = await readOnnxFileInfo(modelPath);
  const side = sidecarPath(modelPath);
  let text: string | undefined;
  let source: string;
  try {
    text = await readFile(side, 'utf8');
    source = side;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT')
      throw new PolicyLoadError(`${side}: cannot read the manifest sidecar (${code ?? String(err)})`);
    text = file.metadata[MANIFEST_METADATA_KEY];
    source = `${modelPath}#metadata_props.${MANIFEST_METADATA_KEY}`;
  }
  if (text === undefined) {
    throw new PolicyLoadError(
      `${modelPath}: no manifest: the model has no metadata_props key '${MANIFEST_METADATA_KEY}' and there is no ` +
        `sidecar ${side}`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new PolicyLoadError(`${source}: the manifest is not valid JSON (${(err as Error).message})`);
  }
  return { manifest: parseManifest(json, source), source, file };
}
