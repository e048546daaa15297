// CurveZMQ for the policy server: Z85 keys (ZeroMQ RFC 32), key files, and the ZAP handler (RFC 27) that
// lets in only the clients whose public key the server was given. zeromq.js sets the CURVE options on a
// socket but brings no ZAP handler: libzmq asks whoever binds inproc://zeromq.zap.01 in the socket's context,
// so the server gets a context of its own and answers there (without a handler every client key would pass).
//
// Key files (`vla-serve keys`), in the layout of ZeroMQ certificates:
//   NAME.key          public-key = "<40 Z85 characters>"                      give it to the other side
//   NAME.key_secret   public-key = "..." and secret-key = "..."  (mode 0600)  keep it
// A file holding nothing but a bare 40-character key is read as a public key.
import { readFile } from 'node:fs/promises';
import { type Context, Reply } from 'zeromq';

const Z85 = '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#';
const Z85_INDEX = new Map([...Z85].map((c, i) => [c, i]));

/** Bytes (a multiple of 4) -> Z85 text. */
export function z85Encode(bytes: Uint8Array): string {
  if (bytes.length % 4 !== 0) throw new Error(`z85: expected a multiple of 4 bytes, found ${bytes.length}`);
  let out = '';
  for (let i = 0; i < bytes.length; i += 4) {
    let value = ((bytes[i] << 24) | (bytes[i + 1] << 16) | (bytes[i + 2] << 8) | bytes[i + 3]) >>> 0;
    const chunk = new Array<string>(5);
    for (let k = 4; k >= 0; k--) {
      chunk[k] = Z85[value % 85];
      value = Math.floor(value / 85);
    }
    out += chunk.join('');
  }
  return out;
}

/** Z85 text (a multiple of 5 characters) -> bytes; throws on any other character or length. */
export function z85Decode(text: string): Uint8Array {
  if (text.length % 5 !== 0) throw new Error(`z85: expected a multiple of 5 characters, found ${text.length}`);
  const out = new Uint8Array((text.length / 5) * 4);
  for (let i = 0, o = 0; i < text.length; i += 5, o += 4) {
    let value = 0;
    for (let k = 0; k < 5; k++) {
      const d = Z85_INDEX.get(text[i + k]);
      if (d === undefined) throw new Error(`z85: '${text[i + k]}' is not a Z85 character`);
      value = value * 85 + d;
    }
    if (value > 0xffffffff) throw new Error('z85: a group is out of range');
    out[o] = value >>> 24;
    out[o + 1] = (value >>> 16) & 0xff;
    out[o + 2] = (value >>> 8) & 0xff;
    out[o + 3] = value & 0xff;
  }
  return out;
}

/** A CURVE key as text: 40 Z85 characters for 32 bytes. */
export function isCurveKey(text: string): boolean {
  if (text.length !== 40) return false;
  try {
    z85Decode(text);
    return true;
  } catch {
    return false;
  }
}

export interface KeyFile {
  public_key: string;
  secret_key?: string;
}

/** The text of NAME.key (public only) or NAME.key_secret (both). */
export function keyFileText(name: string, keys: KeyFile): string {
  const secret = keys.secret_key !== undefined;
  return [
    `#   vla-serve CURVE ${secret ? 'key pair' : 'public key'}: ${name}`,
    secret ? '#   SECRET: keep this file private (mode 0600); give the other side NAME.key' : '#   public: share it',
    'curve',
    `    public-key = "${keys.public_key}"`,
    ...(secret ? [`    secret-key = "${keys.secret_key}"`] : []),
    '',
  ].join('\n');
}

/** Read a key file (see the top of this file); throws naming the file when it holds no valid key. */
export async function readKeyFile(path: string): Promise<KeyFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new Error(`cannot read the key file ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  return parseKeyText(text, path);
}

export function parseKeyText(text: string, source: string): KeyFile {
  const field = (name: string): string | undefined => text.match(new RegExp(`${name}\\s*=\\s*"([^"]*)"`))?.[1];
  let pub = field('public-key');
  const secret = field('secret-key');
  if (pub === undefined && secret === undefined) {
    const bare = text
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    if (bare.length === 1) pub = bare[0];
  }
  if (pub === undefined || !isCurveKey(pub))
    throw new Error(`${source}: no CURVE public key (40 Z85 characters) in it; write keys with 'vla-serve keys'`);
  if (secret !== undefined && !isCurveKey(secret))
    throw new Error(`${source}: the secret-key is not 40 Z85 characters`);
  return { public_key: pub, ...(secret === undefined ? {} : { secret_key: secret }) };
}

export const ZAP_ENDPOINT = 'inproc://zeromq.zap.01';

/** One client's handshake, as the ZAP handler decided it. */
export interface ZapDecision {
  allowed: boolean;
  /** The client's public key (Z85), or '' for a mechanism without one. */
  client_key: string;
  /** The client's IP address. */
  address: string;
  mechanism: string;
}

/** Answers libzmq's authentication requests for every socket of one context: only allowed CURVE keys pass. */
export class ZapHandler {
  private constructor(
    private readonly sock: Reply,
    private readonly allowed: ReadonlySet<string>,
    private readonly onDecision: (d: ZapDecision) => void,
  ) {}

  /** Bind the handler in `context` (before the server socket binds, or early clients are not asked about). */
  static async start(
    context: Context,
    allowed_client_keys: Iterable<string>,
    onDecision: (d: ZapDecision) => void = () => {},
  ): Promise<ZapHandler> {
    const sock = new Reply({ context, linger: 0 });
    await sock.bind(ZAP_ENDPOINT);
    const h = new ZapHandler(sock, new Set(allowed_client_keys), onDecision);
    void h.serve();
    return h;
  }

  close(): void {
    this.sock.close();
  }

  private async serve(): Promise<void> {
    try {
      for await (const frames of this.sock) await this.sock.send(this.answer(frames));
    } catch {
      // the socket was closed
    }
  }

  /** RFC 27: version, request id, domain, address, identity, mechanism, credentials... -> the reply frames. */
  private answer(frames: Buffer[]): (string | Buffer)[] {
    const [version, requestId, , address, , mechanism, key] = frames;
    const reply = (status: string, text: string, user = ''): (string | Buffer)[] => [
      '1.0',
      requestId ?? '',
      status,
      text,
      user,
      '',
    ];
    if (version?.toString() !== '1.0') return reply('500', 'unsupported ZAP version');
    const mech = mechanism?.toString() ?? '';
    const client_key = mech === 'CURVE' && key?.length === 32 ? z85Encode(key) : '';
    const allowed = client_key !== '' && this.allowed.has(client_key);
    this.onDecision({ allowed, client_key, address: address?.toString() ?? '', mechanism: mech });
    return allowed ? reply('200', 'OK', client_key) : reply('400', 'client key not allowed');
  }
}
