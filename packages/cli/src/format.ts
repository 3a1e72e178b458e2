// Human-readable sizes, durations and ctr-style tables.

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];

/** "1.0 MiB", "713.0 B": ctr's format, powers of 1024 with one decimal. */
export function formatBytes(n: number): string {
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${UNITS[unit]}`;
}

/** "850ms", "1.2s", "2m3s". */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const minutes = Math.floor(ms / 60_000);
  return `${minutes}m${Math.round((ms % 60_000) / 1000)}s`;
}

/**
 * Columns separated by at least `padding` spaces (default 1), each as wide as its widest
 * cell, the last one unpadded: Go's tabwriter as ctr uses it (padding 1 for images,
 * 4 for tasks and containers).
 */
export function formatTable(
  header: readonly string[],
  rows: ReadonlyArray<readonly string[]>,
  options: { padding?: number } = {},
): string {
  const all = [header, ...rows];
  const gap = " ".repeat(Math.max(1, options.padding ?? 1));
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? "").length)));
  return all
    .map((r) =>
      r
        .map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
        .join(gap)
        .trimEnd(),
    )
    .map((line) => `${line}\n`)
    .join("");
}

/** Cuts a line to fit a terminal, marking the cut. */
export function fit(line: string, width: number): string {
  if (width <= 1 || line.length <= width) return line;
  return `${line.slice(0, width - 1)}…`;
}
