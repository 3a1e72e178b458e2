import assert from "node:assert/strict";
import { appendFile, mkdtemp, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { CriLogFollower, type LogEntry, entryBytes, parseCriLogLine } from "./log-follower.js";

test("CRI log lines back into stream bytes", () => {
  const full = parseCriLogLine(Buffer.from("2024-01-01T00:00:00.1Z stdout F hello world"));
  assert.deepEqual(full, { stream: "stdout", partial: false, content: Buffer.from("hello world") });
  assert.equal(entryBytes(full!, false).toString(), "hello world\n");
  assert.equal(entryBytes(full!, true).toString(), "hello world\r\n");
  const partial = parseCriLogLine(Buffer.from("2024-01-01T00:00:00Z stderr P abc"));
  assert.equal(partial?.stream, "stderr");
  assert.equal(entryBytes(partial!, false).toString(), "abc");
  assert.equal(parseCriLogLine(Buffer.from("2024-01-01T00:00:00Z stdout F "))?.content.length, 0);
  assert.equal(parseCriLogLine(Buffer.from("2024-01-01T00:00:00Z stdin F x")), undefined);
  assert.equal(parseCriLogLine(Buffer.from("no")), undefined);
});

test("the follower starts at the end, and follows a rotation", async () => {
  const dir = await mkdtemp(join(tmpdir(), "log-follower-"));
  try {
    const path = join(dir, "0.log");
    await writeFile(path, "t stdout F before\n");
    const seen: LogEntry[] = [];
    const follower = new CriLogFollower(path, (e) => seen.push(e));
    await follower.start();
    await appendFile(path, "t stdout F one\nt stderr P tw");
    await appendFile(path, "o\n");
    await rename(path, `${path}.1`);
    await appendFile(`${path}.1`, "t stdout F last of the old file\n");
    await writeFile(path, "t stdout F new file\n");
    await new Promise((r) => setTimeout(r, 400));
    await follower.stop(true);
    assert.deepEqual(
      seen.map((e) => `${e.stream}:${e.content}`),
      ["stdout:one", "stderr:two", "stdout:last of the old file", "stdout:new file"],
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
