// Label selectors of CRI list filters: every key must be present with the same value.
export function matchesLabels(
  labels: Record<string, string>,
  selector: Record<string, string> | undefined,
): boolean {
  if (selector === undefined) return true;
  for (const [k, v] of Object.entries(selector)) if (labels[k] !== v) return false;
  return true;
}

/** Entries whose ID is `id`, or the one entry whose ID starts with it; none when ambiguous. */
export function byIdFilter<T>(items: T[], id: string, idOf: (t: T) => string): T[] {
  if (id === "") return items;
  const exact = items.filter((t) => idOf(t) === id);
  if (exact.length > 0) return exact;
  const prefixed = items.filter((t) => idOf(t).startsWith(id));
  return prefixed.length === 1 ? prefixed : [];
}
