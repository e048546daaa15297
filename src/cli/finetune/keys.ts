// Keys for the keyboard operator (rl/robot/keyboard-operator.ts): from this terminal (raw mode, a key at a time;
// Ctrl-C still stops), from a pipe (a character at a time), or forwarded by the learner that started this actor
// (an actor in the background may not read the terminal: the learner reads it and sends each key over IPC).
import type { ChildProcess } from 'node:child_process';
import type { KeySource } from '../../rl/robot/keyboard-operator.js';

/** IPC message carrying one key from the learner to its local actor. */
interface KeyMessage {
  type: 'key';
  key: string;
}

/** Keys typed in this process's terminal (or piped to it). */
export function terminalKeys(): KeySource & { close(): void } {
  const input = process.stdin;
  const raw = input.isTTY === true;
  if (raw) input.setRawMode(true);
  input.setEncoding('utf8');
  const listeners: ((key: string) => void)[] = [];
  const onData = (text: string) => {
    for (const key of text) {
      if (raw && key === '\u0003')
        process.kill(process.pid, 'SIGINT'); // raw mode swallows Ctrl-C's signal
      else for (const l of listeners) l(key);
    }
  };
  input.on('data', onData);
  return {
    onKey: (l) => void listeners.push(l),
    close: () => {
      input.off('data', onData);
      if (raw) input.setRawMode(false);
      input.pause();
    },
  };
}

/** Keys the learner forwards to this actor (it started it, with an IPC channel). */
export function forwardedKeys(): KeySource {
  return {
    onKey: (l) => {
      process.on('message', (m: KeyMessage) => {
        if (m?.type === 'key' && typeof m.key === 'string') l(m.key);
      });
    },
  };
}

/** The learner's side: every key typed here goes to these actors; returns a function that stops it. */
export function forwardKeys(children: () => readonly ChildProcess[], onKey: (key: string) => void): () => void {
  const keys = terminalKeys();
  keys.onKey((key) => {
    onKey(key);
    for (const c of children()) if (c.connected) c.send({ type: 'key', key } satisfies KeyMessage);
  });
  return () => keys.close();
}
