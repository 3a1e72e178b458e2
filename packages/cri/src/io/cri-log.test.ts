import assert from "node:assert/strict";
import { mkdtemp, readFile, rename, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { test } from "node:test";
import { CriLogFile, rfc3339Nano } from "./cri-log.js";

const LINE = /^(\S+) (stdout|stderr) ([FP]) (.*)$/;

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "cri-log-"));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function entries(text: string): string[][] {
  return text
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => {
      const m = LINE.exec(l);
      assert.ok(m, l);
      return [m[2]!, m[3]!, m[4]!];
    });
}

test("RFC3339Nano like Go: nine digits at most, trailing zeros dropped, Z", () => {
  assert.equal(rfc3339Nano(1_700_000_000_123_400_000n), "2023-11-14T22:13:20.1234Z");
  assert.equal(rfc3339Nano(1_700_000_000_000_000_000n), "2023-11-14T22:13:20Z");
  assert.equal(rfc3339Nano(1_700_000_000_000_000_001n), "2023-11-14T22:13:20.000000001Z");
  assert.match(rfc3339Nano(), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$/);
});

test("lines of both streams, CRLF trimmed, long lines and an unterminated tail as partial entries", async () => {
  await withDir(async (dir) => {
    const path = join(dir, "c", "0.log");
    const log = await CriLogFile.open(path, 8);
    const out = new PassThrough();
    const err = new PassThrough();
    const done = Promise.all([log.copy(out, "stdout"), log.copy(err, "stderr")]);
    out.write("hello\nwor");
    out.write("ld\r\n");
    err.write("oops\n");
    out.write("0123456789abcdefXY\n");
    out.end("tail");
    err.end();
    await done;
    await log.close();
    assert.deepEqual(entries(await readFile(path, "utf8")), [
      ["stdout", "F", "hello"],
      ["stdout", "F", "world"],
      ["stderr", "F", "oops"],
      ["stdout", "P", "01234567"],
      ["stdout", "P", "89abcdef"],
      ["stdout", "F", "XY"],
      ["stdout", "P", "tail"],
    ]);
  });
});

test("a stream that ended before it was attached ends the copy at once", async () => {
  await withDir(async (dir) => {
    const log = await CriLogFile.open(join(dir, "0.log"), 0);
    const s = new PassThrough();
    s.end();
    s.resume();
    await new Promise((resolve) => s.once("end", resolve));
    await log.copy(s, "stderr");
    await log.close();
  });
});

test("reopen writes to a new file at the same path after rotation", async () => {
  await withDir(async (dir) => {
    const path = join(dir, "0.log");
    const log = await CriLogFile.open(path, 0);
    const out = new PassThrough();
    const done = log.copy(out, "stdout");
    out.write("one\n");
    await new Promise((resolve) => setTimeout(resolve, 20));
    await log.flushed();
    await rename(path, `${path}.1`);
    await log.reopen();
    out.end("two\n");
    await done;
    await log.close();
    assert.deepEqual(entries(await readFile(`${path}.1`, "utf8")), [["stdout", "F", "one"]]);
    assert.deepEqual(entries(await readFile(path, "utf8")), [["stdout", "F", "two"]]);
  });
});
