/** File names in the order a person expects: seed2 before seed10. */
export function naturalOrder(a: string, b: string): number {
  return a.localeCompare(b, undefined, { numeric: true });
}
