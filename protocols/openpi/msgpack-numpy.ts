// openpi's wire encoding: msgpack, with numpy arrays written as plain msgpack maps (not an extension type), as
// openpi-client's msgpack_numpy does. Written from the format's public description:
//   array:   { __ndarray__: true, data: <bin, C order>, dtype: <str, numpy's dtype.str>, shape: [<int>...] }
//   scalar:  { __npgeneric__: true, data: <the value>, dtype: <str> }   (a numpy scalar such as np.float32(1))
// The four (three) marker keys are msgpack **bin**, not str: Python packs them from bytes literals; every other key
// (the observation's `observation/image`, `prompt`, the reply's `actions` ...) is an ordinary str. dtype is
// numpy's string form: byte order ('<' little, '>' big, '|' not applicable) + kind + item size, e.g. `|u1`,
// `<f4`, `<f8`, `<i8`, `|b1`. openpi refuses object, void and complex dtypes; so does this codec.
// Other values map as Python's msgpack does: str <-> string, bytes <-> bin (Uint8Array), int/float <-> number
// (a JS number that is not an integer goes out as float64, as a Python float), list <-> array, dict <-> map.
import { Decoder, ExtData } from '@msgpack/msgpack';

export type NumericArray =
  | Uint8Array
  | Int8Array
  | Uint16Array
  | Int16Array
  | Uint32Array
  | Int32Array
  | Float32Array
  | Float64Array
  | BigInt64Array
  | BigUint64Array;

type NumericArrayCtor = {
  new (length: number): NumericArray;
  new (buffer: ArrayBufferLike, byteOffset: number, length: number): NumericArray;
  BYTES_PER_ELEMENT: number;
};

/** numpy kind + item size -> the typed array that holds it (bool `b1` as bytes 0/1). */
const DTYPES: Record<string, NumericArrayCtor> = {
  b1: Uint8Array,
  u1: Uint8Array,
  i1: Int8Array,
  u2: Uint16Array,
  i2: Int16Array,
  u4: Uint32Array,
  i4: Int32Array,
  f4: Float32Array,
  f8: Float64Array,
  i8: BigInt64Array,
  u8: BigUint64Array,
};

/** The dtype string numpy gives an array of this typed array's kind, on this (little-endian) host. */
function dtypeOf(data: NumericArray): string {
  const kind =
    data instanceof Uint8Array
      ? 'u1'
      : data instanceof Int8Array
        ? 'i1'
        : data instanceof Uint16Array
          ? 'u2'
          : data instanceof Int16Array
            ? 'i2'
            : data instanceof Uint32Array
              ? 'u4'
              : data instanceof Int32Array
                ? 'i4'
                : data instanceof Float32Array
                  ? 'f4'
                  : data instanceof Float64Array
                    ? 'f8'
                    : data instanceof BigInt64Array
                      ? 'i8'
                      : 'u8';
  return `${data.BYTES_PER_ELEMENT === 1 ? '|' : '<'}${kind}`;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** A numpy array: C-order data, its shape and dtype. */
export class NdArray<T extends NumericArray = NumericArray> {
  readonly dtype: string;

  /** @param dtype numpy's dtype string; default the typed array's own (`|b1` must be given for booleans). */
  constructor(
    readonly data: T,
    readonly shape: readonly number[],
    dtype?: string,
  ) {
    this.dtype = dtype ?? dtypeOf(data);
    const n = shape.reduce((a, b) => a * b, 1);
    if (!shape.every((d) => Number.isInteger(d) && d >= 0))
      throw new Error(`ndarray: shape must be non-negative integers, got [${shape.join(', ')}]`);
    if (n !== data.length)
      throw new Error(`ndarray: shape [${shape.join(', ')}] holds ${n} values, the data has ${data.length}`);
    const ctor = DTYPES[this.dtype.slice(1)];
    if (!ctor || !(data instanceof ctor) || this.dtype[0] === '>')
      throw new Error(`ndarray: dtype '${this.dtype}' does not describe a ${data.constructor.name}`);
  }
}

/** A map key that goes out as msgpack bin (Python bytes), as openpi's array markers do. */
export class BinKey {
  constructor(readonly text: string) {}
}

export type PackValue =
  | null
  | undefined
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | NumericArray
  | NdArray
  | PackValue[]
  | Map<string | BinKey, PackValue>
  | { [key: string]: PackValue };

class Writer {
  private buf = Buffer.allocUnsafe(1024);
  pos = 0;

  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }
  u8(v: number): void {
    this.room(1);
    this.buf[this.pos++] = v;
  }
  /** A type byte, then a big-endian unsigned of `size` bytes. */
  head(type: number, size: 1 | 2 | 4, v: number): void {
    this.room(1 + size);
    this.buf[this.pos++] = type;
    this.buf.writeUIntBE(v, this.pos, size);
    this.pos += size;
  }
  bytes(b: Uint8Array): void {
    this.room(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }
  f64(v: number): void {
    this.room(9);
    this.buf[this.pos++] = 0xcb;
    this.buf.writeDoubleBE(v, this.pos);
    this.pos += 8;
  }
  big(v: bigint): void {
    this.room(9);
    if (v < 0n) {
      this.buf[this.pos++] = 0xd3;
      this.buf.writeBigInt64BE(v, this.pos);
    } else {
      this.buf[this.pos++] = 0xcf;
      this.buf.writeBigUInt64BE(v, this.pos);
    }
    this.pos += 8;
  }
  result(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }
}

function packInt(w: Writer, v: number): void {
  if (v >= 0) {
    if (v < 0x80) w.u8(v);
    else if (v < 0x100) w.head(0xcc, 1, v);
    else if (v < 0x10000) w.head(0xcd, 2, v);
    else if (v < 0x100000000) w.head(0xce, 4, v);
    else w.big(BigInt(v));
  } else if (v >= -32) w.u8(v & 0xff);
  else if (v >= -0x80) w.head(0xd0, 1, v & 0xff);
  else if (v >= -0x8000) w.head(0xd1, 2, v & 0xffff);
  else if (v >= -0x80000000) w.head(0xd2, 4, v >>> 0);
  else w.big(BigInt(v));
}

function packStr(w: Writer, s: string): void {
  const b = Buffer.from(s, 'utf8');
  if (b.length < 32) w.u8(0xa0 | b.length);
  else if (b.length < 0x100) w.head(0xd9, 1, b.length);
  else if (b.length < 0x10000) w.head(0xda, 2, b.length);
  else w.head(0xdb, 4, b.length);
  w.bytes(b);
}

function packBin(w: Writer, b: Uint8Array): void {
  if (b.length < 0x100) w.head(0xc4, 1, b.length);
  else if (b.length < 0x10000) w.head(0xc5, 2, b.length);
  else w.head(0xc6, 4, b.length);
  w.bytes(b);
}

function packContainer(w: Writer, n: number, fix: number, t16: number): void {
  if (n < 16) w.u8(fix | n);
  else if (n < 0x10000) w.head(t16, 2, n);
  else w.head(t16 + 1, 4, n);
}

function packNdArray(w: Writer, a: NdArray): void {
  if (!LITTLE_ENDIAN) throw new Error('ndarray: this codec writes little-endian data only');
  packContainer(w, 4, 0x80, 0xde);
  packBin(w, Buffer.from('__ndarray__'));
  w.u8(0xc3);
  packBin(w, Buffer.from('data'));
  packBin(w, new Uint8Array(a.data.buffer, a.data.byteOffset, a.data.byteLength));
  packBin(w, Buffer.from('dtype'));
  packStr(w, a.dtype);
  packBin(w, Buffer.from('shape'));
  packContainer(w, a.shape.length, 0x90, 0xdc);
  for (const d of a.shape) packInt(w, d);
}

function packEntries(w: Writer, entries: [string | BinKey, PackValue][], depth: number): void {
  const kept = entries.filter(([, v]) => v !== undefined);
  packContainer(w, kept.length, 0x80, 0xde);
  for (const [k, v] of kept) {
    if (k instanceof BinKey) packBin(w, Buffer.from(k.text, 'utf8'));
    else packStr(w, k);
    pack(w, v, depth + 1);
  }
}

function pack(w: Writer, v: PackValue, depth: number): void {
  if (depth > 64) throw new Error('msgpack: nested deeper than 64 levels');
  if (v === null || v === undefined) w.u8(0xc0);
  else if (typeof v === 'boolean') w.u8(v ? 0xc3 : 0xc2);
  else if (typeof v === 'number') {
    if (Number.isSafeInteger(v) && !Object.is(v, -0)) packInt(w, v);
    else w.f64(v);
  } else if (typeof v === 'bigint') w.big(v);
  else if (typeof v === 'string') packStr(w, v);
  else if (v instanceof NdArray) packNdArray(w, v);
  else if (v instanceof Uint8Array) packBin(w, v);
  else if (ArrayBuffer.isView(v)) packNdArray(w, new NdArray(v as NumericArray, [(v as NumericArray).length]));
  else if (Array.isArray(v)) {
    packContainer(w, v.length, 0x90, 0xdc);
    for (const x of v) pack(w, x, depth + 1);
  } else if (v instanceof Map) packEntries(w, [...v.entries()], depth);
  else if (typeof v === 'object') packEntries(w, Object.entries(v), depth);
  else throw new Error(`msgpack: cannot encode a ${typeof v}`);
}

/**
 * One value to openpi's msgpack. NdArray -> a numpy array; Uint8Array (and Buffer) -> bytes; any other typed
 * array -> a 1-D numpy array of its kind; plain objects and Maps -> maps (keys in insertion order; a BinKey key
 * goes out as bin); undefined map values are left out.
 */
export function packb(value: PackValue): Uint8Array {
  const w = new Writer();
  pack(w, value, 0);
  return w.result();
}

export type UnpackedValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | NdArray
  | UnpackedValue[]
  | { [key: string]: UnpackedValue };

/** A message that is not openpi msgpack, or an array this codec will not read. */
export class OpenpiDecodeError extends Error {
  override name = 'OpenpiDecodeError';
}

export interface UnpackLimits {
  /** Largest string, bin, array or map accepted (default: msgpack's own 4 GiB limits). */
  max_length?: number;
}

// bin keys are told apart from str keys while decoding; a str key cannot start with a NUL in practice
const BIN = '\u0000bin:';

/** An ndarray whose marker keys came as str (not openpi's format) is left a plain map, as openpi itself does. */
function toNdArray(m: Record<string, unknown>): NdArray {
  const data = m[`${BIN}data`];
  const dtype = m[`${BIN}dtype`];
  const shape = m[`${BIN}shape`];
  if (!(data instanceof Uint8Array)) throw new OpenpiDecodeError('ndarray: data is not bytes');
  const dt = dtype instanceof Uint8Array ? Buffer.from(dtype).toString('utf8') : dtype;
  if (typeof dt !== 'string') throw new OpenpiDecodeError('ndarray: dtype is not a string');
  if (!Array.isArray(shape) || !shape.every((d) => typeof d === 'number' && Number.isInteger(d) && d >= 0))
    throw new OpenpiDecodeError(`ndarray: shape is not a list of sizes (${JSON.stringify(shape)})`);
  const order = dt[0];
  const ctor = DTYPES[dt.slice(1)];
  if (!ctor || !'<>|='.includes(order) || dt.length < 3)
    throw new OpenpiDecodeError(
      `ndarray: dtype '${dt}' is not supported (bool, int8..64, uint8..64, float32, float64 only; object, void ` +
        'and complex dtypes are refused, as openpi refuses them)',
    );
  const n = (shape as number[]).reduce((a, b) => a * b, 1);
  const size = ctor.BYTES_PER_ELEMENT;
  if (data.length !== n * size)
    throw new OpenpiDecodeError(
      `ndarray: shape [${shape.join(', ')}] of ${dt} needs ${n * size} bytes, data has ${data.length}`,
    );
  const swap = size > 1 && (order === '>') === LITTLE_ENDIAN;
  let out: NumericArray;
  if (!swap && data.byteOffset % size === 0) out = new ctor(data.buffer, data.byteOffset, n);
  else {
    const copy = Uint8Array.from(data); // aligned, and ours to byte-swap
    if (swap) for (let i = 0; i < copy.length; i += size) copy.subarray(i, i + size).reverse();
    out = new ctor(copy.buffer, 0, n);
  }
  const native = size === 1 ? '|' : LITTLE_ENDIAN ? '<' : '>';
  return new NdArray(out, shape as number[], `${native}${dt.slice(1)}`);
}

function restore(v: unknown): UnpackedValue {
  if (Array.isArray(v)) return v.map(restore);
  if (v instanceof ExtData || v instanceof Date)
    throw new OpenpiDecodeError("msgpack extension types are not part of openpi's format");
  if (v === null || typeof v !== 'object' || v instanceof Uint8Array) return v as UnpackedValue;
  const m = v as Record<string, unknown>;
  if (`${BIN}__ndarray__` in m) return toNdArray(m);
  if (`${BIN}__npgeneric__` in m) {
    const dt = m[`${BIN}dtype`];
    const kind = typeof dt === 'string' ? dt.slice(1, 2) : '';
    if ('OVc'.includes(kind) || !kind) throw new OpenpiDecodeError(`npgeneric: dtype '${String(dt)}' is refused`);
    return restore(m[`${BIN}data`]);
  }
  const out: Record<string, UnpackedValue> = {};
  for (const [k, x] of Object.entries(m)) {
    const key = k.startsWith(BIN) ? k.slice(BIN.length) : k;
    if (key === '__proto__') throw new OpenpiDecodeError('the key __proto__ is not allowed');
    out[key] = restore(x);
  }
  return out;
}

/**
 * openpi msgpack -> a value; numpy arrays come back as NdArray (little-endian, data viewing the message where
 * alignment allows, so keep the message alive or copy), numpy scalars as their value; bytes keys of other maps
 * become string keys. Throws OpenpiDecodeError on malformed or refused input.
 */
export function unpackb(bytes: Uint8Array, limits: UnpackLimits = {}): UnpackedValue {
  const max = limits.max_length;
  const decoder = new Decoder({
    maxStrLength: max,
    maxBinLength: max,
    maxArrayLength: max,
    maxMapLength: max,
    mapKeyConverter: (key: unknown) => {
      if (typeof key === 'string' || typeof key === 'number') return key;
      if (key instanceof Uint8Array) return BIN + Buffer.from(key).toString('utf8');
      throw new OpenpiDecodeError(`a map key must be a string or bytes, found ${typeof key}`);
    },
  });
  let raw: unknown;
  try {
    raw = decoder.decode(bytes);
  } catch (err) {
    if (err instanceof OpenpiDecodeError) throw err;
    throw new OpenpiDecodeError(`not msgpack: ${(err as Error).message}`);
  }
  return restore(raw);
}

/** Whether a decoded value is a numpy array (of any dtype). */
export function isNdArray(v: unknown): v is NdArray {
  return v instanceof NdArray;
}
