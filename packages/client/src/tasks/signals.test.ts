import assert from "node:assert/strict";
import { test } from "node:test";
import { parseSignal, signalName } from "./signals.js";

test("signals by name, short name, any case, or number", () => {
  assert.equal(parseSignal("SIGKILL"), 9);
  assert.equal(parseSignal("KILL"), 9);
  assert.equal(parseSignal("term"), 15);
  assert.equal(parseSignal("9"), 9);
  assert.equal(parseSignal("SIGUSR1"), 10);
  assert.throws(() => parseSignal("SIGNOPE"), /unknown signal SIGNOPE/);
  assert.throws(() => parseSignal("0"), /from 1 to 64/);
  assert.throws(() => parseSignal("65"), /from 1 to 64/);
  assert.equal(signalName(15), "SIGTERM");
});
