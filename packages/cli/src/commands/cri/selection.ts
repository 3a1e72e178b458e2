// Choosing pods and containers the way crictl's list commands do: name and namespace
// regular expressions, newest first, and --latest / --last N.

import { UsageError } from "../../command.js";

/** A test for --name and --namespace: a regular expression matched anywhere; none matches all. */
export function patternTest(pattern: string | undefined, option: string): (text: string) => boolean {
  if (pattern === undefined || pattern === "") return () => true;
  let re: RegExp;
  try {
    re = new RegExp(pattern);
  } catch (err) {
    throw new UsageError(
      `${option} ${JSON.stringify(pattern)} is not a regular expression (${(err as Error).message}): e.g. ${option} '^web'`,
    );
  }
  return (text) => re.test(text);
}

/** Newest first, then cut to --latest (1) or --last N (0: all). */
export function newestFirst<T extends { createdAt: bigint }>(
  items: readonly T[],
  latest: boolean,
  last: number,
): T[] {
  const sorted = [...items].sort((a, b) =>
    a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : 0,
  );
  const n = last > 0 ? last : latest ? 1 : sorted.length;
  return sorted.slice(0, n);
}
