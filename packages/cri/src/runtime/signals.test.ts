import assert from "node:assert/strict";
import { test } from "node:test";
import { parseSignal } from "./signals.js";

test("stop signals by name, short name, number, real-time offset", () => {
  assert.equal(parseSignal(""), 15);
  assert.equal(parseSignal("SIGTERM"), 15);
  assert.equal(parseSignal("quit"), 3);
  assert.equal(parseSignal("9"), 9);
  assert.equal(parseSignal("SIGRTMIN+3"), 37);
  assert.throws(() => parseSignal("SIGNOPE"), /invalid signal/);
  assert.throws(() => parseSignal("99"), /invalid signal/);
});
