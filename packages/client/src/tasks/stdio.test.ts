import assert from "node:assert/strict";
import { constants, closeSync, openSync, readSync, statSync, writeSync } from "node:fs";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { after, before, describe, test } from "node:test";
import { ProcessStdio } from "./stdio.js";

class Sink {
  text = "";
  write(chunk: Uint8Array): boolean {
    this.text += Buffer.from(chunk).toString();
    return true;
  }
}

/** Plays the shim's part: opens the FIFOs by path as it would. */
function shimSide(path: string, flags: number): number {
  return openSync(path, flags | constants.O_NONBLOCK);
}

describe("process stdio FIFOs", () => {
  let root = "";
  before(async () => {
    root = await mkdtemp(join(tmpdir(), "berth-fifo-test-"));
  });
  after(() => rm(root, { recursive: true, force: true }));

  test("output reaches the caller's streams until end-of-file; stdin is passed on and its end reported", async () => {
    const stdin = new PassThrough();
    const stdout = new Sink();
    const stderr = new Sink();
    const io = await ProcessStdio.open("c1", { stdin, stdout, stderr }, { fifoDir: root });
    const { paths } = io;
    assert.equal(paths.terminal, false);
    for (const [path, name] of [
      [paths.stdin, "c1-stdin"],
      [paths.stdout, "c1-stdout"],
      [paths.stderr, "c1-stderr"],
    ] as const) {
      assert.ok(path.startsWith(`${root}/`) && path.endsWith(`/${name}`), path);
      assert.ok(statSync(path).isFIFO());
    }
    const out = shimSide(paths.stdout, constants.O_WRONLY);
    const err = shimSide(paths.stderr, constants.O_WRONLY);
    const input = shimSide(paths.stdin, constants.O_RDONLY);
    let ended = false;
    io.startInput(() => {
      ended = true;
    });
    stdin.end("typed\n");
    await new Promise((r) => setTimeout(r, 50));
    const buf = Buffer.alloc(64);
    assert.equal(buf.subarray(0, readSync(input, buf)).toString(), "typed\n");
    assert.ok(ended, "the end of stdin is reported");
    writeSync(out, "hello\n");
    writeSync(err, "oops\n");
    closeSync(out);
    closeSync(err);
    closeSync(input);
    await io.drain(5_000);
    assert.equal(stdout.text, "hello\n");
    assert.equal(stderr.text, "oops\n");
    await io.close();
    assert.deepEqual(await readdir(root), [], "the FIFO directory is removed");
  });

  test("a terminal has no stderr FIFO; streams not given get none", async () => {
    const io = await ProcessStdio.open(
      "c2",
      { stdout: new Sink(), stderr: new Sink() },
      { terminal: true, fifoDir: root },
    );
    assert.equal(io.paths.stdin, "");
    assert.equal(io.paths.stderr, "");
    assert.ok(io.paths.stdout.endsWith("/c2-stdout"));
    assert.equal(io.paths.terminal, true);
    const started = Date.now();
    await io.drain(100);
    assert.ok(Date.now() - started < 2_000, "drain is bounded when no writer ever came");
    await io.close();
  });
});
