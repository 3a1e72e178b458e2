// Values of command-line options shared by several commands: KEY=VALUE lists and byte counts.

import { UsageError } from "./command.js";

/** "KEY=VALUE" (or "KEY", an empty value) into a map; later keys win, as with ctr's --label. */
export function parseKeyValues(items: readonly string[], option: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of items) {
    const eq = item.indexOf("=");
    const key = eq < 0 ? item : item.slice(0, eq);
    if (key === "")
      throw new UsageError(`${option} ${JSON.stringify(item)} has no key: use ${option} KEY=VALUE`);
    out[key] = eq < 0 ? "" : item.slice(eq + 1);
  }
  return out;
}

/** A whole number of bytes. */
export function parseSize(text: string, option: string): number {
  const n = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(n)) {
    throw new UsageError(
      `${option} takes a whole number of bytes, not ${JSON.stringify(text)}: e.g. ${option} 268435456`,
    );
  }
  return n;
}
