// The `--openpi-map` spec: which camera goes under which openpi observation key, the state and prompt keys, and the
// chunk the server answers; clear errors naming the item at fault; a mapping prints back to a spec that parses to it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatOpenpiMapping, OpenpiMappingError, parseOpenpiMapping } from '../protocols/openpi/mapping.js';
import { isOpenpiPolicySpec, parseOpenpiSpec } from '../src/policy/remote/openpi-load.js';
import { parseOpenpiBind } from '../src/policy/remote/openpi-server.js';

test('LIBERO-style keys: flat keys with slashes, 224x224 HWC images, defaults for state and prompt', () => {
  const m = parseOpenpiMapping('observation/image=top, observation/wrist_image=wrist@128x96, horizon=10, dim=7');
  assert.deepEqual(m.images, [
    { key: ['observation/image'], camera: 'top', width: 224, height: 224, layout: 'hwc' },
    { key: ['observation/wrist_image'], camera: 'wrist', width: 128, height: 96, layout: 'hwc' },
  ]);
  assert.deepEqual(m.state, [{ key: ['observation/state'], from: 0, to: undefined }]);
  assert.deepEqual([m.state_dtype, m.prompt_key, m.prompt_text], ['f4', ['prompt'], undefined]);
  assert.deepEqual([m.horizon, m.action_dim, m.action_offset, m.control_hz], [10, 7, 1, undefined]);
});

test('DROID-style split state, ALOHA-style nested CHW images, prompt text with an escaped comma', () => {
  const droid = parseOpenpiMapping(
    'observation/exterior_image_1_left=top,state=observation/joint_position[0:7],' +
      'state=observation/gripper_position[7:8],state_dtype=f8,horizon=15,dim=8,hz=15',
  );
  assert.deepEqual(droid.state, [
    { key: ['observation/joint_position'], from: 0, to: 7 },
    { key: ['observation/gripper_position'], from: 7, to: 8 },
  ]);
  assert.deepEqual([droid.state_dtype, droid.control_hz], ['f8', 15]);
  const aloha = parseOpenpiMapping(
    'images.cam_high=top:chw,images.cam_left_wrist=left@224x224:chw,state=state,prompt=prompt,' +
      'text=fold the towel\\, then stack it,horizon=50,dim=14,offset=0',
  );
  assert.deepEqual(
    aloha.images.map((i) => [i.key, i.layout]),
    [
      [['images', 'cam_high'], 'chw'],
      [['images', 'cam_left_wrist'], 'chw'],
    ],
  );
  assert.deepEqual(
    [aloha.state[0].key, aloha.prompt_text, aloha.action_offset],
    [['state'], 'fold the towel, then stack it', 0],
  );
  const none = parseOpenpiMapping('image=top,state=,prompt=,horizon=4', { action_dim: 6 });
  assert.deepEqual([none.state, none.prompt_key, none.action_dim], [[], undefined, 6]);
});

test('a mapping prints back to a spec that parses to the same mapping', () => {
  for (const spec of [
    'observation/image=top,observation/wrist_image=wrist@96x64,horizon=10,dim=7,hz=50',
    'images.cam_high=top:chw,state=observation/joint_position[0:7],state=observation/g[7:],state_dtype=f8,' +
      'prompt=task.text,text=a\\, b,horizon=50,dim=14,offset=2',
    'a\\.b=top,state=,prompt=,horizon=1,dim=1',
  ]) {
    const m = parseOpenpiMapping(spec);
    assert.deepEqual(parseOpenpiMapping(formatOpenpiMapping(m)), m, spec);
  }
  assert.deepEqual(parseOpenpiMapping('a\\.b=top,horizon=1,dim=1').images[0].key, ['a.b']);
});

test('bad specs are refused naming the item and what was expected', () => {
  const bad: [string, RegExp][] = [
    ['observation/image=top,dim=7', /horizon: say how many actions/],
    ['observation/image=top,horizon=10', /dim: say how many values/],
    ['observation/image,horizon=10,dim=7', /'observation\/image': expected NAME=VALUE/],
    ['observation/image=top@224,horizon=10,dim=7', /expected KEY=CAMERA\[@WxH\]\[:chw\]/],
    ['observation/image=top:nchw,horizon=10,dim=7', /expected KEY=CAMERA/],
    ['horizon=ten,dim=7', /horizon must be an integer >= 1, got 'ten'/],
    ['horizon=10,dim=0', /dim must be an integer >= 1/],
    ['horizon=10,dim=7,hz=-5', /hz must be a positive number/],
    ['horizon=10,dim=7,state_dtype=f2', /state_dtype is f4 or f8/],
    ['state=s[3:3],horizon=10,dim=7', /the slice \[3:3\] is empty/],
    ['state=a[0:3],state=b[4:7],horizon=10,dim=7', /must cover the state in order/],
    ['a=top,a=wrist,horizon=10,dim=7', /key 'a' is used twice/],
    ['images=top,images.cam=wrist,horizon=10,dim=7', /key 'images' is both a value and a map/],
    ['a..b=top,horizon=10,dim=7', /empty key/],
  ];
  for (const [spec, re] of bad)
    assert.throws(
      () => parseOpenpiMapping(spec),
      (e: Error) => e instanceof OpenpiMappingError && re.test(e.message),
      spec,
    );
});

test('openpi addresses: ws:// with the default port 8000, options from the query, not sent on', () => {
  assert.ok(isOpenpiPolicySpec('ws://gpu:8000') && isOpenpiPolicySpec('WSS://gpu') && !isOpenpiPolicySpec('zmq://a:1'));
  assert.deepEqual(parseOpenpiSpec('ws://gpu-box'), { url: 'ws://gpu-box:8000' });
  assert.deepEqual(parseOpenpiSpec('ws://gpu-box:9000?timeout_ms=8000'), {
    url: 'ws://gpu-box:9000',
    timeout_ms: 8000,
  });
  assert.throws(() => parseOpenpiSpec('ws://gpu-box?jpeg=1'), /unknown option 'jpeg'/);
  assert.throws(() => parseOpenpiSpec('ws://gpu-box?timeout_ms=0'), /integer in \[1, 600000\]/);
});

test('where an openpi server listens: loopback and port 8000 unless told otherwise', () => {
  assert.deepEqual(parseOpenpiBind(undefined), { host: '127.0.0.1', port: 8000 });
  assert.deepEqual(parseOpenpiBind('9000'), { host: '127.0.0.1', port: 9000 });
  assert.deepEqual(parseOpenpiBind(':9000'), { host: '127.0.0.1', port: 9000 });
  assert.deepEqual(parseOpenpiBind('0.0.0.0:8001'), { host: '0.0.0.0', port: 8001 });
  assert.deepEqual(parseOpenpiBind('ws://gpu-box'), { host: 'gpu-box', port: 8000 });
  assert.deepEqual(parseOpenpiBind('[::1]:8002'), { host: '::1', port: 8002 });
  assert.throws(() => parseOpenpiBind('tcp://a:1:2'), /expected host:port/);
  assert.throws(() => parseOpenpiBind('a:70000'), /not in 0..65535/);
});
