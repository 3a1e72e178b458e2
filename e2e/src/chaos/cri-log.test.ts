// The chaos run's own CRI log reader: P pieces joined up to their F, gaps and duplicates
// counted between the first and last sequence number, a line still being written ignored.
import assert from "node:assert/strict";
import { test } from "node:test";
import { countLogLines } from "./cri-log.js";

const T = "2026-12-03T10:00:00.123456789Z";

test("a log of whole lines with a gap", () => {
  const text = [0, 1, 2, 5, 6].map((i) => `${T} stdout F pod-a ${i}`).join("\n");
  assert.deepEqual(countLogLines(`${text}\n`, "pod-a"), {
    lines: 5,
    first: 0,
    last: 6,
    lost: 2,
    duplicated: 0,
    malformed: 0,
  });
});

test("partial pieces are joined; the unfinished last line and other streams' pieces do not break them", () => {
  const text = [
    `${T} stdout P pod-a `,
    `${T} stderr P something `,
    `${T} stdout P 1`,
    `${T} stdout F 0`,
    `${T} stderr F else`,
    `${T} stdout F pod-a 11`,
    `${T} stdout F pod-a 11`,
    `${T} stdout F pod-a 1`,
  ].join("\n");
  // "pod-a 10", "something else" (not the pod's), "pod-a 11" twice; "pod-a 1" has no line break yet.
  assert.deepEqual(countLogLines(text, "pod-a"), {
    lines: 2,
    first: 10,
    last: 11,
    lost: 0,
    duplicated: 1,
    malformed: 1,
  });
});

test("lines not in the CRI format are malformed, another pod's name too", () => {
  const text = `garbage\n${T} stdout F pod-ab 3\n${T} stdout X pod-a 4\n${T} stdout F pod-a 7\n`;
  const c = countLogLines(text, "pod-a");
  assert.equal(c.malformed, 3);
  assert.equal(c.lines, 1);
  assert.equal(c.lost, 0);
});
