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
  // every key any episode gave (actors of other versions may give others); each over the episodes that gave it
  for (const key of new Set(figures.flatMap((f) => Object.keys(f)))) {
    const values = figures.map((f) => f[key]);
    const numbers = values.filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
    if (values.some((v) => typeof v === 'boolean')) flagged[key] = values.filter((v) => v === true).length;
    else if (numbers.length > 0) median[key] = Math.round(quantile(Float64Array.from(numbers), 0.5) * 1e4) / 1e4;
  }
  return { failures: figures.length, median, flagged };
}
