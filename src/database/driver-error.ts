// What the pg driver said behind a failed query. Pure: no Nest imports.

/** The SQLSTATE and constraint of the driver's error behind a TypeORM error (QueryFailedError's `driverError`), if there is one. */
export function driverErrorOf(error: unknown): { code?: string; constraint?: string } | undefined {
  return (error as { driverError?: { code?: string; constraint?: string } } | null | undefined)?.driverError ?? undefined;
}
