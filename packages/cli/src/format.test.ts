import assert from "node:assert/strict";
import { test } from "node:test";
import { fit, formatBytes, formatDuration, formatTable } from "./format.js";

test("formatBytes uses ctr's units", () => {
  assert.equal(formatBytes(0), "0.0 B");
  assert.equal(formatBytes(713), "713.0 B");
  assert.equal(formatBytes(1024), "1.0 KiB");
  assert.equal(formatBytes(1054811), "1.0 MiB");
  assert.equal(formatBytes(3.5 * 1024 ** 3), "3.5 GiB");
});

test("formatDuration", () => {
  assert.equal(formatDuration(850), "850ms");
  assert.equal(formatDuration(1234), "1.2s");
  assert.equal(formatDuration(123_000), "2m3s");
});

test("formatTable pads every column but the last", () => {
  assert.equal(
    formatTable(
      ["REF", "SIZE", "LABELS"],
      [
        ["a", "1.0 MiB", "-"],
        ["longer-name", "2 B", "x=y"],
      ],
    ),
    "REF         SIZE    LABELS\na           1.0 MiB -\nlonger-name 2 B     x=y\n",
  );
});

test("formatTable takes ctr's wider padding for tasks and containers", () => {
  assert.equal(
    formatTable(["TASK", "PID", "STATUS"], [["web", "42", "RUNNING"]], { padding: 4 }),
    "TASK    PID    STATUS\nweb     42     RUNNING\n",
  );
});

test("fit cuts long lines", () => {
  assert.equal(fit("abcdef", 4), "abc…");
  assert.equal(fit("abc", 4), "abc");
});
