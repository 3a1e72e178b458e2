// Sequence gaps in a chaos logger's CRI log file. Each line is
// `<RFC3339Nano> <stdout|stderr> <F|P>[:…] <content>`; P pieces are joined with what
// follows on the same stream up to its F piece. The logger prints `<pod> <seq>` lines with
// seq counting up from 0: a missing seq between the first and the last one read is a lost
// line. This parser is the test's own, so that it does not check the writer with itself.
import { readFile } from "node:fs/promises";

export interface LogCount {
  /** Distinct sequence numbers read. */
  lines: number;
  first: number | undefined;
  last: number | undefined;
  /** Sequence numbers missing between first and last. */
  lost: number;
  /** A sequence number seen more than once. */
  duplicated: number;
  /** Lines that are not CRI log lines, or whose content is not `<pod> <seq>`. */
  malformed: number;
}

const CRI_LINE =
  /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:\d\d)) (stdout|stderr) ([FP])(?::\S*)? (.*)$/s;

export function countLogLines(text: string, pod: string): LogCount {
  const seqs = new Set<number>();
  let duplicated = 0;
  let malformed = 0;
  const pending: Record<string, string> = { stdout: "", stderr: "" };
  const lines = text.split("\n");
  // The last piece has no line break yet when the writer is mid-line: not a line.
  lines.pop();
  const numbered = new RegExp(`^${pod.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} (\\d+)$`);
  const content = (line: string) => {
    const m = numbered.exec(line);
    if (m === null) {
      malformed++;
      return;
    }
    const seq = Number(m[1]);
    if (seqs.has(seq)) duplicated++;
    seqs.add(seq);
  };
  for (const line of lines) {
    const m = CRI_LINE.exec(line);
    if (m === null) {
      malformed++;
      continue;
    }
    const [, , stream = "stdout", tag, piece = ""] = m;
    pending[stream] = (pending[stream] ?? "") + piece;
    if (tag === "F") {
      content(pending[stream] ?? "");
      pending[stream] = "";
    }
  }
  if (seqs.size === 0) return { lines: 0, first: undefined, last: undefined, lost: 0, duplicated, malformed };
  let first = Number.POSITIVE_INFINITY;
  let last = Number.NEGATIVE_INFINITY;
  for (const s of seqs) {
    if (s < first) first = s;
    if (s > last) last = s;
  }
  return { lines: seqs.size, first, last, lost: last - first + 1 - seqs.size, duplicated, malformed };
}

/** countLogLines of a file; undefined when it cannot be read. */
export async function countLogFile(path: string, pod: string): Promise<LogCount | undefined> {
  const text = await readFile(path, "utf8").catch(() => undefined);
  return text === undefined ? undefined : countLogLines(text, pod);
}
