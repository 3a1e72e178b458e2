import assert from "node:assert/strict";
import { appendFile, mkdtemp, open, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import type { Output } from "../../command.js";
import { LogPrinter, parseLogLine, parseLogTime, readLog, tailOffset, tailStart } from "./cri-log.js";

class Capture implements Output {
  text = "";
  write(chunk: string | Uint8Array): boolean {
    this.text += typeof chunk === "string" ? chunk : Buffer.from(chunk).toString();
    return true;
  }
}

const line = (text: string) => parseLogLine(Buffer.from(text))!;

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "berthctl-cri-log-"));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test("CRI log lines: time, stream, F or P, content (spaces and all)", () => {
  const e = line("2024-05-01T10:00:00.123456789Z stdout F hello  world ");
  assert.equal(e.time, "2024-05-01T10:00:00.123456789Z");
  assert.equal(e.ns, BigInt(Date.UTC(2024, 4, 1, 10)) * 1_000_000n + 123_456_789n);
  assert.equal(e.stream, "stdout");
  assert.equal(e.partial, false);
  assert.equal(e.content.toString(), "hello  world ");
  assert.equal(line("2024-05-01T10:00:00Z stderr P").content.length, 0, "an empty piece");
  assert.equal(line("2024-05-01T10:00:00+02:00 stderr P part").partial, true);
  assert.equal(line("2024-05-01T10:00:00Z stdout F:x y").content.toString(), "y", "tag fields after ':'");
  for (const bad of [
    "not a log line",
    "2024-05-01 stdout F x",
    "2024-05-01T10:00:00Z stdin F x",
    "2024-05-01T10:00:00Z stdout X x",
  ]) {
    assert.equal(parseLogLine(Buffer.from(bad)), undefined, bad);
  }
});

test("log times come out with nine fraction digits, in the zone they were written in", () => {
  assert.deepEqual(parseLogTime("2024-05-01T10:00:00.5Z"), {
    ns: BigInt(Date.UTC(2024, 4, 1, 10)) * 1_000_000n + 500_000_000n,
    fixed: "2024-05-01T10:00:00.500000000Z",
  });
  assert.equal(parseLogTime("2024-05-01T12:00:00+02:00")?.fixed, "2024-05-01T12:00:00.000000000+02:00");
  assert.equal(parseLogTime("2024-05-01T12:00:00+02:00")?.ns, BigInt(Date.UTC(2024, 4, 1, 10)) * 1_000_000n);
  assert.equal(parseLogTime("yesterday"), undefined);
});

test("pieces join into their line on each stream; timestamps only where a line starts", () => {
  const out = new Capture();
  const err = new Capture();
  const printer = new LogPrinter(out, err, { timestamps: true });
  const entries = [
    "2024-05-01T10:00:00.1Z stdout P hel",
    "2024-05-01T10:00:00.2Z stderr F oops",
    "2024-05-01T10:00:00.3Z stdout P lo ",
    "2024-05-01T10:00:00.4Z stdout F world",
    "2024-05-01T10:00:01Z stdout F next",
  ].map(line);
  const written = entries.map((e) => [e.stream, printer.format(e).toString()]);
  assert.deepEqual(written, [
    ["stdout", "2024-05-01T10:00:00.100000000Z hel"],
    ["stderr", "2024-05-01T10:00:00.200000000Z oops\n"],
    ["stdout", "lo "],
    ["stdout", "world\n"],
    ["stdout", "2024-05-01T10:00:01.000000000Z next\n"],
  ]);
  const plain = new LogPrinter(out, err);
  assert.equal(plain.format(entries[0]!).toString(), "hel");
  assert.equal(plain.format(entries[3]!).toString(), "world\n");
  const since = new LogPrinter(out, err, { since: entries[3]!.ns });
  assert.equal(since.format(entries[2]!).length, 0);
  assert.equal(since.format(entries[4]!).toString(), "next\n");
});

test("--tail counts whole lines: pieces belong to the line their F ends", () => {
  const e = (tags: string) => [...tags].map((t) => ({ partial: t === "P" }));
  assert.equal(tailStart(e("FFF"), 2), 1);
  assert.equal(tailStart(e("FPPF"), 1), 1);
  assert.equal(tailStart(e("FPPF"), 2), 0);
  assert.equal(tailStart(e("FFPP"), 1), 2, "an unfinished line at the end counts as one");
  assert.equal(tailStart(e("FFPP"), 2), 1);
  assert.equal(tailStart(e("FF"), 5), 0);
  assert.equal(tailStart(e("FF"), 0), 2);
  assert.equal(tailStart(e("FF"), -1), 0);
});

test("a log file: stdout and stderr apart, --tail from the end of a large file", async () => {
  const path = join(dir, "large.log");
  const lines: string[] = [];
  for (let i = 0; i < 5000; i++)
    lines.push(`2024-05-01T10:00:00.${String(i).padStart(4, "0")}Z stdout F line ${i}`);
  lines.push("2024-05-01T10:00:01Z stderr P last ", "2024-05-01T10:00:01.1Z stderr F words");
  lines.push("2024-05-01T10:00:02Z stdout P no newline yet");
  await writeFile(path, `${lines.join("\n")}`);
  const out = new Capture();
  const err = new Capture();
  await readLog(path, out, err, { tail: 3 });
  assert.equal(out.text, "line 4999\nno newline yet");
  assert.equal(err.text, "last words\n");
  const file = await open(path, "r");
  try {
    const size = (await file.stat()).size;
    assert.equal(await tailOffset(file, size, 0), size);
    assert.equal(await tailOffset(file, size, 100_000), 0);
  } finally {
    await file.close();
  }
  const all = new Capture();
  await readLog(path, all, new Capture());
  assert.equal(all.text.split("\n").length, 5001);
});

test("following: new lines as they come, across a rotation, until the container stops", async () => {
  const path = join(dir, "follow.log");
  await writeFile(path, "2024-05-01T10:00:00Z stdout F first\n");
  const out = new Capture();
  let running = true;
  const reading = readLog(path, out, new Capture(), {
    follow: true,
    pollMs: 50,
    running: async () => running,
  });
  const waitFor = async (text: string) => {
    for (let i = 0; i < 100 && !out.text.includes(text); i++) await new Promise((r) => setTimeout(r, 20));
    assert.ok(out.text.includes(text), `${JSON.stringify(text)} in ${JSON.stringify(out.text)}`);
  };
  await waitFor("first\n");
  await appendFile(path, "2024-05-01T10:00:01Z stdout P sec");
  await appendFile(path, "ond piece\n");
  await appendFile(path, "2024-05-01T10:00:01Z stdout F \n");
  await waitFor("second piece");
  // kubelet's rotation: rename, then the runtime reopens the path (ReopenContainerLog).
  await appendFile(path, "2024-05-01T10:00:02Z stdout F before rotation\n");
  await rename(path, `${path}.1`);
  await appendFile(`${path}.1`, "2024-05-01T10:00:03Z stdout F late in the old file\n");
  await writeFile(path, "2024-05-01T10:00:04Z stdout F in the new file\n");
  await waitFor("in the new file\n");
  running = false;
  await appendFile(path, "2024-05-01T10:00:05Z stdout F the last words\n");
  await reading;
  assert.equal(
    out.text,
    "first\nsecond piece\nbefore rotation\nlate in the old file\nin the new file\nthe last words\n",
  );
});

test("following stops when the command is interrupted", async () => {
  const path = join(dir, "abort.log");
  await writeFile(path, "2024-05-01T10:00:00Z stdout F x\n");
  const controller = new AbortController();
  const reading = readLog(path, new Capture(), new Capture(), {
    follow: true,
    running: async () => true,
    signal: controller.signal,
  });
  setTimeout(() => controller.abort(), 100);
  await reading;
});
