// Label validation and fieldpath-driven updates shared by every record kind.
import { invalidArgument } from "@berth/client/errdefs";

const maxLabelSize = 4096;

export function validateLabels(labels: Record<string, string>): void {
  for (const [k, v] of Object.entries(labels)) {
    if (k === "") throw invalidArgument("label key must not be empty");
    if (k.length + v.length > maxLabelSize) {
      throw invalidArgument(
        `label key and value greater than maximum size (${maxLabelSize} bytes), key: ${k.slice(0, 10)}`,
      );
    }
  }
}

/**
 * Applies an update's labels the way containerd does: with no fieldpaths the labels are
 * replaced; `labels` replaces them; `labels.<key>` sets or (when absent in `update`)
 * removes one key. Other fieldpaths are returned for the caller to handle.
 */
export function applyLabelUpdate(
  current: Record<string, string>,
  update: Record<string, string>,
  fieldpaths: readonly string[],
): { labels: Record<string, string>; rest: string[] } {
  if (fieldpaths.length === 0) return { labels: { ...update }, rest: [] };
  let labels = { ...current };
  const rest: string[] = [];
  for (const path of fieldpaths) {
    if (path === "labels") {
      labels = { ...update };
    } else if (path.startsWith("labels.")) {
      const key = path.slice("labels.".length);
      const value = update[key];
      if (value === undefined || value === "") delete labels[key];
      else labels[key] = value;
    } else {
      rest.push(path);
    }
  }
  validateLabels(labels);
  return { labels, rest };
}
