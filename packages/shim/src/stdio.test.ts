import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { execFileSync } from "node:child_process";
import { constants, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { ProcessIO, parseStdio } from "./stdio.js";
import { initLibc } from "./sys.js";

function collect(path: string): Promise<string> {
  const s = new net.Socket({
    fd: openSync(path, constants.O_RDONLY | constants.O_NONBLOCK),
    writable: false,
  });
  let text = "";
  s.on("data", (d: Buffer) => {
    text += d.toString();
  });
  return new Promise((resolve) => s.once("end", () => resolve(text)));
}

describe("stdio", () => {
  let dir = "";
  before(async () => {
    await initLibc();
    dir = mkdtempSync(join(tmpdir(), "berth-stdio-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("output through FIFOs outlives the reader: a writer never gets EPIPE, a new reader reads on", async () => {
    const fifos = join(dir, "adopt-io");
    const log = join(dir, "adopt.log");
    const stdio = { stdin: "", stdout: `file://${log}`, stderr: `file://${log}`, terminal: false };
    const io = ProcessIO.create(stdio, fifos);
    const child = spawn("sh", ["-c", "echo one; sleep 0.3; echo two >&2; sleep 0.2; echo three"], {
      stdio: io.childStdio(),
    });
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    io.closeChildEnds();
    await io.start();
    await new Promise((r) => setTimeout(r, 100));
    io.close(); // the reader dies, as with its shim
    await new Promise((r) => setTimeout(r, 250)); // "two" is written while nobody reads
    const adopted = ProcessIO.adopt(stdio, fifos);
    await adopted.start();
    assert.equal(await exited, 0, "the writer exits normally (no SIGPIPE)");
    await adopted.done(2_000);
    adopted.close();
    assert.equal(readFileSync(log, "utf8"), "one\ntwo\nthree\n");
  });

  it("reads the delivery kind from the stdout URI", () => {
    const io = (stdout: string) => ({ stdin: "", stdout, stderr: "", terminal: false });
    assert.deepEqual(parseStdio({ stdin: "", stdout: "", stderr: "", terminal: false }), { kind: "null" });
    assert.deepEqual(parseStdio(io("/run/x/stdout")), { kind: "fifo" });
    assert.deepEqual(parseStdio(io("fifo:///run/x/stdout")), { kind: "fifo" });
    assert.deepEqual(parseStdio(io("file:///var/log/c%201.log")), { kind: "file", path: "/var/log/c 1.log" });
    assert.deepEqual(
      parseStdio({ stdin: "", stdout: "cri-log:///l/0.log", stderr: "cri-log:///l/0.log", terminal: false }),
      {
        kind: "cri-log",
        path: "/l/0.log",
        maxLine: 16384,
      },
    );
    assert.deepEqual(parseStdio(io("cri-log:///var/log/pods/a%20b/0.log?max-line-size=0")), {
      kind: "cri-log",
      path: "/var/log/pods/a b/0.log",
      maxLine: 0,
    });
    assert.throws(() => parseStdio(io("cri-log://host/0.log")), /absolute path/);
    assert.throws(() => parseStdio(io("cri-log:///0.log?max-line-size=-1")), /max-line-size/);
    assert.throws(
      () => parseStdio({ stdin: "", stdout: "cri-log:///l/0.log", stderr: "/run/err", terminal: false }),
      /same URI/,
    );
    assert.throws(() => parseStdio(io("binary:///usr/bin/logger?x=1")), /not supported/);
    assert.throws(() => parseStdio(io("tcp://1.2.3.4")), /unknown scheme/);
  });

  it("copies a process's pipes to and from the client's FIFOs", async () => {
    const [stdin, stdout, stderr] = ["in", "out", "err"].map((n) => join(dir, n)) as [string, string, string];
    execFileSync("mkfifo", [stdin, stdout, stderr]);
    const out = collect(stdout);
    const err = collect(stderr);
    const io = ProcessIO.create({ stdin, stdout, stderr, terminal: false });
    const child = spawn("sh", ["-c", "read line; echo got:$line; echo oops >&2"], { stdio: io.childStdio() });
    const exited = new Promise((resolve) => child.once("exit", resolve));
    io.closeChildEnds();
    await io.start();
    const writer = openSync(stdin, constants.O_WRONLY | constants.O_NONBLOCK);
    writeSync(writer, "hello\n");
    await exited;
    await io.done(5_000);
    assert.equal(await out, "got:hello\n");
    assert.equal(await err, "oops\n");
    io.close();
  });

  it("appends stdout and stderr to one file for file:// URIs", async () => {
    const log = join(dir, "logs", "c.log");
    const io = ProcessIO.create({
      stdin: "",
      stdout: `file://${log}`,
      stderr: `file://${log}`,
      terminal: false,
    });
    const child = spawn("sh", ["-c", "echo a; echo b >&2"], { stdio: io.childStdio() });
    // Listened for at once: the process may be done before start() has returned.
    const exited = new Promise((resolve) => child.once("exit", resolve));
    io.closeChildEnds();
    await io.start();
    await exited;
    await io.done(5_000);
    assert.deepEqual(readFileSync(log, "utf8").split("\n").sort(), ["", "a", "b"]);
    io.close();
  });

  it("writes both pipes into one CRI log for cri-log:// URIs, even when the process is gone", async () => {
    const log = join(dir, "pods", "c 1", "0.log");
    const uri = `cri-log://${encodeURI(log)}?max-line-size=8`;
    const io = ProcessIO.create({ stdin: "", stdout: uri, stderr: uri, terminal: false });
    const child = spawn("sh", ["-c", "echo out; sleep 0.1; echo err >&2; sleep 0.1; printf 0123456789abc"], {
      stdio: io.childStdio(),
    });
    const exited = new Promise((resolve) => child.once("exit", resolve));
    io.closeChildEnds();
    await io.start();
    await exited;
    await io.done(5_000);
    const lines = readFileSync(log, "utf8")
      .split("\n")
      .slice(0, -1)
      .map((l) => l.split(" ").slice(1).join(" "));
    assert.deepEqual(lines, ["stdout F out", "stderr F err", "stdout P 01234567", "stdout P 89abc"]);
    io.close();
  });
});
