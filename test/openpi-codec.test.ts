// openpi's msgpack-with-numpy encoding and its image rule, checked byte for byte: the marker keys are bin and every
// other key str, dtypes are numpy's strings, data is C order; bytes hand-built the way openpi's Python client packs
// them (msgpack + its numpy hook) decode to the same values and our encoder writes the same bytes; the resize with
// padding gives the bytes PIL gives (reference outputs computed once with PIL's BILINEAR resize_with_pad).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  BinKey,
  NdArray,
  OpenpiDecodeError,
  packb,
  type UnpackedValue,
  unpackb,
} from '../protocols/openpi/msgpack-numpy.js';
import { chwToHwc, hwcToChw, PadResizer, padResizeSize } from '../src/policy/remote/openpi-image.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const bytes = (h: string): Uint8Array => new Uint8Array(Buffer.from(h, 'hex'));
const ascii = (s: string): string => Buffer.from(s).toString('hex');

// Packed by Python's msgpack with openpi's numpy hook (bin marker keys, dtype.str, tobytes()):
//   {"observation/image": np.arange(12, dtype=np.uint8).reshape(2, 2, 3),
//    "observation/state": np.array([0.5, -1.25, 2.0], dtype=np.float32), "prompt": "pick up the fork"}
const PY_OBS =
  '83b16f62736572766174696f6e2f696d61676584c40b5f5f6e6461727261795f5fc3c40464617461c40c000102030405060708090a0b' +
  'c4056474797065a37c7531c405736861706593020203b16f62736572766174696f6e2f737461746584c40b5f5f6e6461727261795f5fc3' +
  'c40464617461c40c0000003f0000a0bf00000040c4056474797065a33c6634c40573686170659103a670726f6d7074b07069636b207570' +
  '2074686520666f726b';
//   {"actions": np.array([[1.5, -2.0], [0.25, 3.0]]), "server_timing": {"infer_ms": 12.5}}   (float64)
const PY_REPLY =
  '82a7616374696f6e7384c40b5f5f6e6461727261795f5fc3c40464617461c420000000000000f83f00000000000000c0000000000000d0' +
  '3f0000000000000840c4056474797065a33c6638c4057368617065920202ad7365727665725f74696d696e6781a8696e6665725f6d73cb' +
  '4029000000000000';
//   {"x": np.float32(1.5), "n": np.int64(7), "b": np.array([True, False]), "i8": np.array([-3, 2**40]),
//    "be": np.array([1.0, 2.0], dtype=">f8")}
const PY_MISC =
  '85a17883c40d5f5f6e7067656e657269635f5fc3c40464617461cb3ff8000000000000c4056474797065a33c6634a16e83c40d5f5f6e70' +
  '67656e657269635f5fc3c4046461746107c4056474797065a33c6938a16284c40b5f5f6e6461727261795f5fc3c40464617461c4020100' +
  'c4056474797065a37c6231c40573686170659102a2693884c40b5f5f6e6461727261795f5fc3c40464617461c410fdffffffffffffff00' +
  '00000000010000c4056474797065a33c6938c40573686170659102a2626584c40b5f5f6e6461727261795f5fc3c40464617461c4103ff0' +
  '0000000000004000000000000000c4056474797065a33e6638c40573686170659102';

const map = (v: UnpackedValue): Record<string, UnpackedValue> => v as Record<string, UnpackedValue>;

describe('openpi msgpack-numpy', () => {
  test('an array is a plain map with bin marker keys, a str dtype and the shape as a list', () => {
    const packed = packb(new NdArray(new Float32Array([1, 2, 3, 4, 5, 6]), [2, 3]));
    const b = Buffer.from(packed);
    assert.equal(b[0], 0x84, 'a fixmap of 4 entries, not an extension type');
    // each marker key: 0xc4 (bin 8), its length, its bytes; never 0xa0|len (fixstr)
    for (const key of ['__ndarray__', 'data', 'dtype', 'shape'])
      assert.ok(hex(packed).includes(`c4${key.length.toString(16).padStart(2, '0')}${ascii(key)}`), `${key} as bin`);
    assert.ok(!hex(packed).includes(`ab${ascii('__ndarray__')}`), '__ndarray__ is not a str');
    assert.ok(hex(packed).includes(`a3${ascii('<f4')}`), 'dtype is the str <f4');
    assert.ok(hex(packed).endsWith(`c405${ascii('shape')}920203`), 'shape is the list [2, 3]');
    assert.ok(hex(packed).includes(`c418${hex(new Uint8Array(new Float32Array([1, 2, 3, 4, 5, 6]).buffer))}`));
  });

  test('dtype strings are numpy’s', () => {
    const cases: [NdArray, string][] = [
      [new NdArray(new Uint8Array(2), [2]), '|u1'],
      [new NdArray(new Int8Array(2), [2]), '|i1'],
      [new NdArray(new Uint8Array(2), [2], '|b1'), '|b1'],
      [new NdArray(new Int16Array(2), [2]), '<i2'],
      [new NdArray(new Int32Array(2), [2]), '<i4'],
      [new NdArray(new Float32Array(2), [2]), '<f4'],
      [new NdArray(new Float64Array(2), [2]), '<f8'],
      [new NdArray(new BigInt64Array(2), [2]), '<i8'],
    ];
    for (const [a, dtype] of cases) {
      assert.equal(a.dtype, dtype);
      const back = unpackb(packb(a)) as NdArray;
      assert.equal(back.dtype, dtype);
      assert.equal(back.data.constructor, a.data.constructor);
    }
    assert.throws(() => new NdArray(new Float32Array(2), [2], '<f8'), /does not describe/);
  });

  test('our encoder writes the bytes openpi’s Python client writes for the same observation', () => {
    const obs = {
      'observation/image': new NdArray(
        Uint8Array.from({ length: 12 }, (_, i) => i),
        [2, 2, 3],
      ),
      'observation/state': new Float32Array([0.5, -1.25, 2.0]), // a bare typed array goes out as a 1-D array
      prompt: 'pick up the fork',
    };
    assert.equal(hex(packb(obs)), PY_OBS);
  });

  test('bytes from openpi’s Python side decode to typed arrays with shape and dtype', () => {
    const obs = map(unpackb(bytes(PY_OBS)));
    const img = obs['observation/image'] as NdArray;
    assert.deepEqual([img.dtype, img.shape, [...img.data]], ['|u1', [2, 2, 3], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]]);
    assert.ok(img.data instanceof Uint8Array);
    const state = obs['observation/state'] as NdArray;
    assert.ok(state.data instanceof Float32Array);
    assert.deepEqual([state.dtype, state.shape, [...state.data]], ['<f4', [3], [0.5, -1.25, 2]]);
    assert.equal(obs.prompt, 'pick up the fork');

    const reply = map(unpackb(bytes(PY_REPLY)));
    const actions = reply.actions as NdArray;
    assert.ok(actions.data instanceof Float64Array);
    assert.deepEqual([actions.dtype, actions.shape, [...actions.data]], ['<f8', [2, 2], [1.5, -2, 0.25, 3]]);
    assert.deepEqual(reply.server_timing, { infer_ms: 12.5 });
    assert.equal(
      hex(
        packb({
          actions: new NdArray(new Float64Array([1.5, -2, 0.25, 3]), [2, 2]),
          server_timing: { infer_ms: 12.5 },
        }),
      ),
      PY_REPLY,
    );

    const misc = map(unpackb(bytes(PY_MISC)));
    assert.equal(misc.x, 1.5, 'a numpy scalar decodes to its value');
    assert.equal(misc.n, 7);
    const b = misc.b as NdArray;
    assert.deepEqual([b.dtype, [...b.data]], ['|b1', [1, 0]]);
    const i8 = misc.i8 as NdArray;
    assert.deepEqual([i8.dtype, [...(i8.data as BigInt64Array)]], ['<i8', [-3n, 2n ** 40n]]);
    const be = misc.be as NdArray;
    assert.deepEqual([be.dtype, [...be.data]], ['<f8', [1, 2]], 'big-endian data is swapped to native');
  });

  test('round trips: nested maps, lists, scalars, strings, bytes, 0-D and empty arrays, bin keys', () => {
    const value = {
      a: [1, -1, 127, 128, -33, 65536, -70000, 2 ** 40, 0.5, Number.NaN, true, false, null, 'é'],
      nested: { image: new NdArray(new Uint8Array(24).fill(7), [2, 4, 3]), raw: new Uint8Array([1, 2, 3]) },
      zero_d: new NdArray(new Float64Array([3.25]), []),
      empty: new NdArray(new Float32Array(0), [0, 4]),
      long: 'x'.repeat(300),
    };
    const back = map(unpackb(packb(value)));
    assert.deepEqual((back.a as UnpackedValue[]).slice(0, 9), value.a.slice(0, 9));
    assert.ok(Number.isNaN((back.a as number[])[9]));
    assert.deepEqual((back.a as UnpackedValue[]).slice(10), [true, false, null, 'é']);
    const nested = map(back.nested);
    assert.deepEqual([...(nested.image as NdArray).data], [...value.nested.image.data]);
    assert.deepEqual((nested.image as NdArray).shape, [2, 4, 3]);
    assert.deepEqual([...(nested.raw as Uint8Array)], [1, 2, 3]);
    assert.deepEqual([(back.zero_d as NdArray).shape, [...(back.zero_d as NdArray).data]], [[], [3.25]]);
    assert.deepEqual((back.empty as NdArray).shape, [0, 4]);
    assert.equal(back.long, value.long);
    const withBin = packb(new Map([[new BinKey('k'), 1]]));
    assert.equal(hex(withBin), `81c4016b01`);
    assert.deepEqual(unpackb(withBin), { k: 1 });
  });

  test('a map whose marker keys are str is not an array (openpi reads bin markers only)', () => {
    const v = map(unpackb(packb({ __ndarray__: true, data: new Uint8Array(1), dtype: '|u1', shape: [1] })));
    assert.ok(!(v instanceof NdArray));
    assert.equal(v.__ndarray__, true);
  });

  test('object, void and complex dtypes are refused, as are malformed arrays and non-msgpack bytes', () => {
    const array = (dtype: string, data: Uint8Array, shape: number[]) =>
      packb(
        new Map<string | BinKey, UnpackedValue>([
          [new BinKey('__ndarray__'), true],
          [new BinKey('data'), data],
          [new BinKey('dtype'), dtype],
          [new BinKey('shape'), shape],
        ]),
      );
    for (const dtype of ['|O', '|V8', '<c8', '<c16', '<U4'])
      assert.throws(() => unpackb(array(dtype, new Uint8Array(8), [1])), OpenpiDecodeError, dtype);
    assert.throws(() => unpackb(array('<f4', new Uint8Array(7), [2])), /needs 8 bytes, data has 7/);
    assert.throws(() => unpackb(array('<f4', new Uint8Array(8), [-2] as number[])), /shape/);
    assert.throws(() => unpackb(bytes('c1')), OpenpiDecodeError, 'never-used byte');
    assert.throws(() => unpackb(bytes('92a1')), OpenpiDecodeError, 'truncated');
    assert.throws(() => unpackb(bytes('d6ff00000000')), /extension/, 'an extension type');
    assert.throws(() => unpackb(packb({ s: 'x'.repeat(100) }), { max_length: 50 }), OpenpiDecodeError);
  });

  test('an unaligned float32 array is copied, not misread', () => {
    const packed = packb({ p: 'ab', a: new NdArray(new Float32Array([1.5, 2.5]), [2]) });
    const shifted = new Uint8Array(packed.length + 1);
    shifted.set(packed, 1);
    const a = map(unpackb(shifted.subarray(1))).a as NdArray;
    assert.deepEqual([...a.data], [1.5, 2.5]);
  });
});

// Reference outputs from PIL: openpi_client.image_tools.resize_with_pad's rule, BILINEAR, on the image
// pixel(x, y, c) = (37x + 91y + 53c) mod 256.
const PIL_10x6_TO_8x8 =
  '0'.repeat(96) +
  '2b6095568b9882b78ca99bae8891576d44793b70a5669b888ea06a7e6072578c6c7f7884678fae83a7a19e807a5f70654b79986a8ea085' +
  '889a72935a8fa36b82648d5b7fa8709e93aebb78976e7b65626f49689d6499a992c75cbe9588717e6b' +
  '0'.repeat(96);
const PIL_5x7_TO_6x6 =
  '0000001a4f84457a9b71a6ab9cadd600000000000080a19a8a907d87bc41b2636c00000000000077885166477c3e73a8699e7f00000000' +
  '00004d82b778ada7a4857e637455000000000000b4bd6e9664775b61754a6ba00000000000004a7384617aaf71a6db9cd16a000000';

function pattern(w: number, h: number): Uint8Array {
  const out = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) for (let c = 0; c < 3; c++) out[(y * w + x) * 3 + c] = (37 * x + 91 * y + 53 * c) % 256;
  return out;
}

describe('openpi resize with padding', () => {
  test('the output is PIL’s, byte for byte: shrink with padding rows, grow with padding columns', () => {
    const r = new PadResizer();
    assert.equal(hex(r.resize(pattern(10, 6), 10, 6, 8, 8)), PIL_10x6_TO_8x8);
    assert.equal(hex(r.resize(pattern(5, 7), 5, 7, 6, 6)), PIL_5x7_TO_6x6);
  });

  test('the aspect ratio is kept: 640x480 to 224x224 is 224x168 with 28 black rows above and below', () => {
    assert.deepEqual(padResizeSize(640, 480, 224, 224), { width: 224, height: 168 });
    const out = new PadResizer().resize(new Uint8Array(640 * 480 * 3).fill(200), 640, 480, 224, 224);
    const row = (y: number) => out.subarray(y * 224 * 3, (y + 1) * 224 * 3);
    assert.ok(row(27).every((v) => v === 0) && row(196).every((v) => v === 0));
    assert.ok(row(28).every((v) => v === 200) && row(195).every((v) => v === 200));
  });

  test('a frame at the target size passes unchanged; CHW and HWC convert both ways', () => {
    const src = pattern(4, 3);
    assert.deepEqual(new PadResizer().resize(src, 4, 3, 4, 3), src);
    const chw = hwcToChw(src, 4, 3);
    assert.equal(chw[1], src[3], 'red of the second pixel');
    assert.equal(chw[12], src[1], 'green of the first pixel');
    assert.deepEqual(chwToHwc(chw, 4, 3), src);
  });
});
