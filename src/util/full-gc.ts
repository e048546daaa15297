// A full garbage collection of the calling thread, on demand, without starting node with --expose-gc: for the
// moments when a pause harms nothing (the control thread between episodes) and for memory samples that should
// show what a thread keeps rather than the garbage V8 has yet to collect.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** This thread's gc(); the flag is process-wide, the function collects the heap of the thread that calls it. */
export function fullGc(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}
