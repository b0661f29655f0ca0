// Counts in messages. Pure: no Nest imports.

/** `1 row`, `2 rows`: a count and its noun (regular plural). */
export function countOf(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}
