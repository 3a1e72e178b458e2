import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import { describe, it } from "node:test";
import { OutputFanOut } from "./output-fanout.js";

describe("OutputFanOut", () => {
  it("hands each chunk of each stream to every subscriber, from its subscription until it leaves", async () => {
    const out = new PassThrough();
    const err = new PassThrough();
    const fan = new OutputFanOut();
    fan.tap(out, "stdout");
    fan.tap(err, "stderr");
    fan.tap(undefined, "stderr");
    const tick = () => new Promise((r) => setImmediate(r));
    out.write("before anyone\n");
    await tick();
    const a: string[] = [];
    const b: string[] = [];
    const leaveA = fan.subscribe((s, c) => a.push(`${s}:${c}`));
    fan.subscribe((s, c) => b.push(`${s}:${c}`));
    assert.equal(fan.subscribers, 2);
    out.write("prompt> ");
    err.write("oops\n");
    await tick();
    leaveA();
    out.write("later\r\n");
    await tick();
    assert.deepEqual(a, ["stdout:prompt> ", "stderr:oops\n"]);
    assert.deepEqual(b, ["stdout:prompt> ", "stderr:oops\n", "stdout:later\r\n"]);
    assert.equal(fan.subscribers, 1);
  });
});
