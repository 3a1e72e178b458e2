import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { PullProgress } from "@berth/client";
import type { Output } from "./command.js";
import { PullProgressView } from "./progress.js";

class Capture implements Output {
  text = "";
  constructor(
    readonly isTTY: boolean,
    readonly columns = 200,
    readonly rows = 40,
  ) {}
  write(chunk: string): void {
    this.text += chunk;
  }
}

const digest = (n: number) => `sha256:${String(n).repeat(64).slice(0, 64)}`;
const blob = (ref: string, status: string, offset: number, total: number, n = 1): PullProgress =>
  ({ type: "blob", ref, digest: digest(n), mediaType: "x", status, offset, total }) as PullProgress;

const pullEvents: PullProgress[] = [
  {
    type: "blob",
    ref: "example.com/app:1",
    digest: "",
    mediaType: "",
    status: "resolving",
    offset: 0,
    total: 0,
  },
  {
    type: "blob",
    ref: "example.com/app:1",
    digest: digest(9),
    mediaType: "x",
    status: "resolved",
    offset: 0,
    total: 0,
  },
  blob("manifest-x", "exists", 500, 500),
  blob("layer-a", "waiting", 0, 2048),
  blob("layer-a", "downloading", 0, 2048),
  blob("layer-a", "downloading", 1024, 2048),
  blob("layer-a", "done", 2048, 2048),
  {
    type: "unpack",
    layer: 0,
    layers: 1,
    digest: digest(1),
    diffId: digest(2),
    chainId: digest(2),
    snapshotter: "overlayfs",
    status: "done",
  },
];

describe("PullProgressView", () => {
  test("without a terminal: one line per change of status, then the summary", () => {
    const out = new Capture(false);
    const view = new PullProgressView(out);
    for (const e of pullEvents) view.update(e);
    view.finish({ name: "example.com/app:1", digest: digest(9), elapsedMs: 1234 });
    assert.equal(
      out.text,
      [
        "example.com/app:1: resolving",
        "example.com/app:1: resolved",
        "manifest-x: exists      500.0 B/500.0 B",
        "layer-a: waiting     0.0 B/2.0 KiB",
        "layer-a: downloading 0.0 B/2.0 KiB",
        "layer-a: done        2.0 KiB/2.0 KiB",
        `unpack-${digest(2)}: done`,
        `elapsed: 1.2s, fetched 1 blob(s), 2.0 KiB, 1 already present: example.com/app:1 ${digest(9)}`,
        "",
      ].join("\n"),
    );
  });

  test("the table aligns one row per blob, with bytes so far", () => {
    const view = new PullProgressView(new Capture(false));
    for (const e of pullEvents.slice(0, 6)) view.update(e);
    assert.deepEqual(view.lines(), [
      "example.com/app:1: resolved",
      "manifest-x:        exists      500.0 B/500.0 B",
      "layer-a:           downloading 1.0 KiB/2.0 KiB",
    ]);
  });

  test("on a terminal: redrawn in place, rows cut to the terminal's width", async () => {
    const out = new Capture(true, 30);
    const view = new PullProgressView(out, { redrawMs: 5 });
    view.update(pullEvents[0]!);
    view.update(pullEvents[2]!);
    await new Promise((r) => setTimeout(r, 20));
    const first = out.text;
    assert.equal(first, "\x1b[2Kexample.com/app:1: resolving\n\x1b[2Kmanifest-x:        exists   …\n\x1b[J");
    view.update(pullEvents[1]!);
    view.finish({ name: "example.com/app:1", digest: digest(9), elapsedMs: 10 });
    const second = out.text.slice(first.length);
    // Back up two lines, rewrite both, then the summary.
    assert.ok(second.startsWith("\x1b[2F\x1b[2Kexample.com/app:1: resolved\n"), JSON.stringify(second));
    assert.match(second, /elapsed: 10ms, fetched 0 blob\(s\), 0\.0 B, 1 already present/);
  });

  test("on a short terminal, only unfinished rows are redrawn", () => {
    const out = new Capture(true, 200, 4);
    const view = new PullProgressView(out);
    for (let i = 0; i < 5; i++) view.update(blob(`layer-${i}`, "done", 10, 10, i));
    view.update(blob("layer-5", "downloading", 5, 10, 5));
    view.finish(undefined);
    assert.equal(out.text, "\x1b[2Klayer-5: downloading 5.0 B/10.0 B\n\x1b[2K… 5 more (5 finished)\n\x1b[J");
  });
});
