/**
 * The one error type a user of recordings sees for a bad file: the message names the file and the
 * problem (no stack trace needed to act on it); the underlying library or fs error is kept as `cause`.
 */
export class EpisodeFileError extends Error {
  override readonly name = 'EpisodeFileError';
  /** What is wrong, without the file name. */
  readonly problem: string;

  constructor(
    readonly path: string,
    problem: string,
    options?: { cause?: unknown },
  ) {
    super(`${path}: ${problem}`, options);
    this.problem = problem;
  }
}

/** Short reason from an unknown thrown value; never throws itself. */
export function reasonOf(err: unknown): string {
  if (err instanceof Error) return err.message;
  try {
    return String(err);
  } catch {
    return 'unknown error';
  }
}

/** Human text for the fs errors people actually hit when opening a file. */
export function describeFsError(err: unknown, verb: 'open' | 'create' | 'write' | 'read'): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ENOENT':
      return verb === 'create' ? 'cannot create file: its directory does not exist' : 'file not found';
    case 'EACCES':
    case 'EPERM':
      return `cannot ${verb} file: permission denied`;
    case 'EISDIR':
      return 'is a directory, not an episode file';
    case 'ENOTDIR':
      return 'a parent of this path is not a directory';
    case 'ENOSPC':
      return `cannot ${verb} file: no space left on device`;
    case 'EMFILE':
    case 'ENFILE':
      return `cannot ${verb} file: too many open files`;
    default:
      return `cannot ${verb} file (${code ?? reasonOf(err)})`;
  }
}
