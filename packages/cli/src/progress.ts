// Pull progress for people: on a terminal, a table of blobs redrawn in place; otherwise
// one line per change of status, so logs stay readable.

import type { PullProgress } from "@berth/client";
import type { Output } from "./command.js";
import { fit, formatBytes, formatDuration } from "./format.js";

interface Row {
  ref: string;
  status: string;
  offset: number;
  total: number;
  /** Blob rows show bytes; the resolve and unpack rows do not. */
  bytes: boolean;
}

export interface PullSummary {
  name: string;
  digest: string;
  elapsedMs: number;
}

const ESC = "\x1b[";

export class PullProgressView {
  readonly #out: Output;
  readonly #live: boolean;
  readonly #rows = new Map<string, Row>();
  #drawnLines = 0;
  #timer: NodeJS.Timeout | undefined;
  readonly #redrawMs: number;
  readonly #verb: string;

  /**
   * `live`: redraw in place (a terminal); otherwise print status changes as lines.
   * `verb`: what the summary says was done to the blobs (push, import and export share the view).
   */
  constructor(out: Output, options: { live?: boolean; redrawMs?: number; verb?: string } = {}) {
    this.#out = out;
    this.#live = options.live ?? out.isTTY === true;
    this.#redrawMs = options.redrawMs ?? 100;
    this.#verb = options.verb ?? "fetched";
  }

  update(event: PullProgress): void {
    const row =
      event.type === "blob"
        ? {
            ref: event.ref,
            status: event.status,
            offset: event.offset,
            total: event.total,
            bytes: event.digest !== "" && event.status !== "resolved",
          }
        : {
            ref: `unpack-${event.chainId}`,
            status: event.status,
            offset: 0,
            total: 0,
            bytes: false,
          };
    const previous = this.#rows.get(row.ref);
    this.#rows.set(row.ref, row);
    if (this.#live) {
      this.#scheduleRedraw();
    } else if (previous?.status !== row.status) {
      this.#out.write(`${formatRow(row)}\n`);
    }
  }

  /** The table as it stands, one string per row (without escape codes). */
  lines(): string[] {
    const rows = [...this.#rows.values()];
    const width = Math.max(0, ...rows.map((r) => r.ref.length));
    return rows.map((r) => formatRow(r, width));
  }

  /** Draws the final state and the summary line. */
  finish(summary: PullSummary | undefined): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#live) this.#redraw();
    if (summary === undefined) return;
    const blobs = [...this.#rows.values()].filter((r) => r.bytes);
    const fetched = blobs.filter((r) => r.status === "done");
    const present = blobs.filter((r) => r.status === "exists").length;
    const bytes = fetched.reduce((sum, r) => sum + r.total, 0);
    this.#out.write(
      `elapsed: ${formatDuration(summary.elapsedMs)}, ${this.#verb} ${fetched.length} blob(s), ${formatBytes(bytes)}, ${present} already present: ${summary.name} ${summary.digest}\n`,
    );
  }

  /** Stops redrawing without a summary (the pull failed). */
  abandon(): void {
    this.finish(undefined);
  }

  #scheduleRedraw(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#redraw();
    }, this.#redrawMs);
  }

  #redraw(): void {
    const columns = this.#out.columns ?? 120;
    const lines = this.#frame(Math.max(3, (this.#out.rows ?? 40) - 1)).map((l) => fit(l, columns - 1));
    let text = this.#drawnLines > 0 ? `${ESC}${this.#drawnLines}F` : "";
    for (const line of lines) text += `${ESC}2K${line}\n`;
    // A frame shorter than the last one leaves old lines below it: clear them.
    this.#out.write(`${text}${ESC}J`);
    this.#drawnLines = lines.length;
  }

  /**
   * The rows to draw: all of them when they fit the terminal (the cursor cannot go back
   * above its top), else the unfinished ones and a count of the others.
   */
  #frame(maxLines: number): string[] {
    const all = this.lines();
    if (all.length <= maxLines) return all;
    const rows = [...this.#rows.values()];
    const width = Math.max(0, ...rows.map((r) => r.ref.length));
    const active = rows.filter((r) => !FINAL.has(r.status));
    const shown = active.slice(0, maxLines - 1).map((r) => formatRow(r, width));
    return [...shown, `… ${rows.length - shown.length} more (${rows.length - active.length} finished)`];
  }
}

const FINAL = new Set(["resolved", "exists", "done"]);

function formatRow(row: Row, width = 0): string {
  const head = `${`${row.ref}:`.padEnd(width + 1)} ${row.status.padEnd(11)}`;
  if (!row.bytes) return head.trimEnd();
  const shown = row.status === "exists" || row.status === "done" ? row.total : row.offset;
  return `${head} ${formatBytes(shown)}/${formatBytes(row.total)}`;
}
