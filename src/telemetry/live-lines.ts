// Values that change while a command waits for its user (a calibration's joint readings): on a terminal a
// block of lines redrawn in place (at most every tty_interval_ms), on a pipe one plain line every
// plain_interval_ms (and the last state at the end), and nothing at all under --json, so that stdout's
// one object and a script's log stay clean. Like progress.ts, it writes to stderr.

export interface LiveLines {
  /** The current state: `block` for a terminal, `line` (one line) for a log. */
  show(block: readonly string[], line: string): void;
  /** The waiting is over: a log gets the last state if it was not printed yet. */
  end(): void;
}

export interface LiveLinesOptions {
  json?: boolean;
  stream?: NodeJS.WriteStream;
  tty_interval_ms?: number;
  plain_interval_ms?: number;
  /** Milliseconds on some monotonic clock (tests). */
  now?: () => number;
}

const SILENT: LiveLines = { show: () => undefined, end: () => undefined };
const CLEAR_LINE = '\x1b[2K';
const up = (n: number) => (n > 0 ? `\x1b[${n}A` : '');

export function liveLines(opts: LiveLinesOptions = {}): LiveLines {
  const stream = opts.stream ?? process.stderr;
  if (opts.json) return SILENT;
  const now = opts.now ?? (() => performance.now());
  return stream.isTTY === true
    ? redrawn(stream, opts.tty_interval_ms ?? 100, now)
    : periodic(stream, opts.plain_interval_ms ?? 1000, now);
}

/** A block redrawn in place; the cursor stays at the start of the line below it. */
function redrawn(stream: NodeJS.WriteStream, interval_ms: number, now: () => number): LiveLines {
  let drawn = 0;
  let last = -Infinity;
  return {
    show(block) {
      const t = now();
      if (t - last < interval_ms) return;
      last = t;
      stream.write(`${up(drawn)}${block.map((l) => `${CLEAR_LINE}${l}\n`).join('')}`);
      // a shorter block leaves old lines below it: clear them
      if (block.length < drawn)
        stream.write(`${`${CLEAR_LINE}\n`.repeat(drawn - block.length)}${up(drawn - block.length)}`);
      drawn = block.length;
    },
    end() {
      drawn = 0;
    },
  };
}

function periodic(stream: NodeJS.WriteStream, interval_ms: number, now: () => number): LiveLines {
  let last = -Infinity;
  let pending: string | undefined;
  return {
    show(_block, line) {
      const t = now();
      if (t - last < interval_ms) {
        pending = line;
        return;
      }
      last = t;
      pending = undefined;
      stream.write(`${line}\n`);
    },
    end() {
      if (pending !== undefined) stream.write(`${pending}\n`);
      pending = undefined;
      last = -Infinity;
    },
  };
}
