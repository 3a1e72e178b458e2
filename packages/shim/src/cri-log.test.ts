import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, renameSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { after, before, describe, it } from "node:test";
import { CriLineEncoder, CriLogWriter, rfc3339Nano } from "./cri-log.js";

const T = "2024-01-02T03:04:05.123456789Z";

/** The entries `encoder` makes of `reads`, then of the end of the stream. */
function encode(encoder: CriLineEncoder, ...reads: string[]): string[] {
  const out = reads.map((r) => encoder.encode(Buffer.from(r), T).toString());
  out.push(encoder.end(T).toString());
  return out.join("").split("\n").slice(0, -1);
}

/** `<time> <stream> <tag> <content>` lines of a log file, without the time. */
function entries(path: string): string[] {
  return readFileSync(path, "utf8")
    .split("\n")
    .slice(0, -1)
    .map((line) => {
      const m = /^(\S+) (stdout|stderr) ([FP]) (.*)$/s.exec(line);
      assert.ok(m, `not a CRI log line: ${JSON.stringify(line)}`);
      assert.ok(!Number.isNaN(Date.parse(m[1]!)), m[1]);
      return `${m[2]} ${m[3]} ${m[4]}`;
    });
}

describe("CRI log", () => {
  it("stamps times as Go's RFC3339Nano in UTC", () => {
    assert.equal(rfc3339Nano(1_700_000_000_123_456_789n), "2023-11-14T22:13:20.123456789Z");
    assert.equal(rfc3339Nano(1_700_000_000_120_000_000n), "2023-11-14T22:13:20.12Z");
    assert.equal(rfc3339Nano(1_700_000_000_000_000_000n), "2023-11-14T22:13:20Z");
    assert.match(rfc3339Nano(), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$/);
  });

  it("writes full lines as F entries, whatever the reads", () => {
    const e = new CriLineEncoder("stdout", 16);
    assert.deepEqual(encode(e, "a\nbb\n", "", "\n"), [
      `${T} stdout F a`,
      `${T} stdout F bb`,
      `${T} stdout F `,
    ]);
    assert.deepEqual(encode(new CriLineEncoder("stderr", 16), "hel", "lo", " there\nx", "y\n"), [
      `${T} stderr F hello there`,
      `${T} stderr F xy`,
    ]);
  });

  it("drops the \\r of \\r\\n, also across reads", () => {
    assert.deepEqual(encode(new CriLineEncoder("stdout", 16), "a\r\nb\r", "\nc\rd\n"), [
      `${T} stdout F a`,
      `${T} stdout F b`,
      `${T} stdout F c\rd`,
    ]);
  });

  it("for a terminal, writes the start of a line at each read as a P entry, keeping a last \\r for its \\n", () => {
    const e = new CriLineEncoder("stdout", 16, { eachRead: true });
    assert.deepEqual(encode(e, "line\r\n/ # ", "ls\r", "\nbin\r\n", "a\rb"), [
      `${T} stdout F line`,
      `${T} stdout P / # `,
      `${T} stdout P ls`,
      `${T} stdout F `,
      `${T} stdout F bin`,
      `${T} stdout P a\rb`,
    ]);
  });

  it("ends unterminated output with a P entry, and writes nothing for nothing", () => {
    assert.deepEqual(encode(new CriLineEncoder("stdout", 16), "done\nno newline"), [
      `${T} stdout F done`,
      `${T} stdout P no newline`,
    ]);
    assert.deepEqual(encode(new CriLineEncoder("stdout", 16)), []);
  });

  it("splits lines longer than the limit into P entries and a last F, as containerd does", () => {
    const e = new CriLineEncoder("stdout", 4);
    assert.deepEqual(encode(e, "abcd\n", "abcde\n", "abcdefghij\n", "ab", "cdef", "gh\n", "abcdefgh"), [
      `${T} stdout F abcd`,
      `${T} stdout P abcd`,
      `${T} stdout F e`,
      `${T} stdout P abcd`,
      `${T} stdout P efgh`,
      `${T} stdout F ij`,
      `${T} stdout P abcd`,
      `${T} stdout F efgh`,
      `${T} stdout P abcd`,
      `${T} stdout P efgh`,
    ]);
    const big = "x".repeat(40_000);
    const lines = encode(new CriLineEncoder("stdout", 16 * 1024), `${big}\n`);
    assert.deepEqual(
      lines.map((l) => [l.split(" ")[2], l.length - `${T} stdout F `.length]),
      [
        ["P", 16384],
        ["P", 16384],
        ["F", 40_000 - 2 * 16384],
      ],
    );
    assert.deepEqual(encode(new CriLineEncoder("stdout", 0), `${big}\n`), [`${T} stdout F ${big}`]);
  });

  describe("file", () => {
    let dir = "";
    before(() => {
      dir = mkdtempSync(join(tmpdir(), "berth-cri-log-"));
    });
    after(() => rmSync(dir, { recursive: true, force: true }));

    it("interleaves both streams in one file, in the order they were read", async () => {
      const path = join(dir, "pod", "c", "0.log");
      const log = await CriLogWriter.open(path, 16 * 1024);
      const out = new PassThrough();
      const err = new PassThrough();
      const copies = Promise.all([log.copy(out, "stdout"), log.copy(err, "stderr")]);
      const tick = () => new Promise((r) => setImmediate(r));
      out.write("one\ntw");
      await tick();
      err.write("oops\n");
      await tick();
      out.write("o\n");
      await tick();
      err.end("last words");
      out.end();
      await copies;
      await log.close();
      assert.deepEqual(entries(path), [
        "stdout F one",
        "stderr F oops",
        "stdout F two",
        "stderr P last words",
      ]);
    });

    it("goes on in a new file at the same path after a reopen; the old file keeps what came before", async () => {
      const path = join(dir, "rotated.log");
      const log = await CriLogWriter.open(path, 16 * 1024);
      const out = new PassThrough();
      const copy = log.copy(out, "stdout");
      out.write("before\npart");
      await new Promise((r) => setTimeout(r, 20));
      renameSync(path, `${path}.1`);
      await log.reopen();
      assert.deepEqual(entries(path), []);
      out.end("ial\nafter\n");
      await copy;
      await log.close();
      assert.deepEqual(entries(`${path}.1`), ["stdout F before"]);
      assert.deepEqual(entries(path), ["stdout F partial", "stdout F after"]);
      await assert.rejects(log.reopen(), /closed/);
    });

    it("close writes a pending partial line and stops the copies", async () => {
      const path = join(dir, "closed.log");
      const log = await CriLogWriter.open(path, 16 * 1024);
      const out = new PassThrough();
      const copy = log.copy(out, "stdout");
      out.write("no end in sight");
      await new Promise((r) => setImmediate(r));
      await log.close();
      await copy;
      assert.deepEqual(entries(path), ["stdout P no end in sight"]);
    });

    it("keeps up with a flood of short lines and loses none", async () => {
      const path = join(dir, "flood.log");
      const log = await CriLogWriter.open(path, 16 * 1024);
      const out = new PassThrough();
      const copy = log.copy(out, "stdout");
      const chunk = Buffer.from("y\n".repeat(32 * 1024));
      for (let i = 0; i < 40; i++) if (!out.write(chunk)) await new Promise((r) => out.once("drain", r));
      out.end();
      await copy;
      await log.close();
      const lines = entries(path);
      assert.equal(lines.length, 40 * 32 * 1024);
      assert.ok(lines.every((l) => l === "stdout F y"));
    });
  });
});
