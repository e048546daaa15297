// Run names become folder names on every OS the user may copy the run to: letters, digits, '.', '_' and '-',
// starting with a letter or digit, at most 64 characters. A name like `exp||lr:3e-4` (seed 003's unloadable
// checkpoint folder) is refused with a safe suggestion instead of silently rewritten.
const SAFE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const RESERVED = /^(con|prn|aux|nul|com\d|lpt\d)(\..*)?$/i; // Windows device names

/** Why `name` cannot be a run name (with a suggestion), or null when it can. */
export function runNameProblem(name: string): string | null {
  if (SAFE.test(name) && !RESERVED.test(name) && !name.endsWith('.')) return null;
  const suggestion =
    name
      .replace(/[^A-Za-z0-9._-]+/g, '-')
      .replace(/^[^A-Za-z0-9]+/, '')
      .replace(/[.-]+$/, '')
      .slice(0, 64) || 'run';
  const why = name.length > 64 ? 'longer than 64 characters' : 'only letters, digits, ".", "_" and "-" are safe';
  const safe = RESERVED.test(suggestion) ? `${suggestion}-run` : suggestion;
  return `run name '${name}' is not safe as a folder name (${why}); try '${safe}'`;
}
