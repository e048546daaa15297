// Logs go to stderr as pino JSON lines, so stdout stays free for results (`--json` prints exactly one
// object there). On a terminal the lines are rendered for people instead: time, level, message, fields.
import pino, { type Logger } from 'pino';

export type { Logger };

const LEVEL_NAMES: Record<number, string> = {
  10: 'trace',
  20: 'debug',
  30: 'info',
  40: 'warn',
  50: 'error',
  60: 'fatal',
};

export interface LogOptions {
  /** Component name shown on every line. */
  name: string;
  level?: string;
  /** Render for people (default: when stderr is a terminal). */
  pretty?: boolean;
}

export function createLogger(opts: LogOptions): Logger {
  const pretty = opts.pretty ?? process.stderr.isTTY === true;
  const level = opts.level ?? process.env.VLA_LOG_LEVEL ?? 'info';
  const base = { name: opts.name };
  if (!pretty) return pino({ level, base }, pino.destination({ fd: 2, sync: true }));
  return pino({ level, base }, { write: (line: string) => process.stderr.write(prettyLine(line)) });
}

function prettyLine(line: string): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  const { level, time, msg, name, ...fields } = rec;
  const t = new Date(Number(time)).toISOString().slice(11, 23);
  const lvl = LEVEL_NAMES[Number(level)] ?? String(level);
  const extra = Object.entries(fields)
    .map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
    .join(' ');
  return `${t} ${lvl.padEnd(5)} [${String(name)}] ${String(msg ?? '')}${extra ? ` ${extra}` : ''}\n`;
}
