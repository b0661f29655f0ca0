// A DATA_DIR this process cannot use, in one line. Pure: no Nest imports.

type FsErrorFields = { code?: unknown; syscall?: unknown };

/** The file system's refusals that mean "this process cannot write there". */
const UNWRITABLE = new Set(['EACCES', 'EPERM', 'ENOTDIR', 'EROFS']);

/**
 * The one line for a file system refusal met in DATA_DIR (a root-owned volume, a file in the way),
 * or undefined when the error is not one.
 */
export function describeDataDirFailure(error: unknown): string | undefined {
  const { code, syscall } = (error ?? {}) as FsErrorFields;
  // mkdir's EEXIST: a file stands where the directory should be (an existing directory is taken as it is).
  const fileInTheWay = code === 'EEXIST' && syscall === 'mkdir';
  if (typeof code !== 'string' || (!UNWRITABLE.has(code) && !fileInTheWay)) return undefined;
  return `DATA_DIR is not a directory this process can write (${code} on ${String(syscall ?? 'access')}): fix its owner or permissions, or set DATA_DIR to one (the embedded database and, in development, generated secrets live there)`;
}
