// Where failed episodes ended, at a glance: over the task figures of the failed episodes of a run (the embedded
// sim's, e.g. cube_to_target_m), the median of each number and how many had each flag set. vla-run prints it under
// its summary; vla-finetune logs it with each evaluation.
import type { TaskOutcome } from '../../../sim/sim-driver.js';
import { quantile } from '../../util/sample-ring.js';

export interface FailureOutcome {
  failures: number;
  median: Record<string, number>;
  flagged: Record<string, number>;
}

/** The figures of the failed episodes (those without figures, a robot's, are left out); undefined when none has. */
export function failureOutcome(failed: readonly (TaskOutcome | undefined)[]): FailureOutcome | undefined {
  const figures = failed.filter((f): f is TaskOutcome => f !== undefined);
  if (figures.length === 0) return undefined;
  const median: Record<string, number> = {};
  const flagged: Record<string, number> = {};
  for (const key of Object.keys(figures[0])) {
    const values = figures.map((f) => f[key]);
    if (typeof values[0] === 'boolean') flagged[key] = values.filter((v) => v === true).length;
    else median[key] = Math.round(quantile(Float64Array.from(values, Number), 0.5) * 1e4) / 1e4;
  }
  return { failures: figures.length, median, flagged };
}
