import assert from "node:assert/strict";
import { test } from "node:test";
import { parseKeyValues, parseSize } from "./arguments.js";

test("KEY=VALUE lists", () => {
  assert.deepEqual(parseKeyValues(["a=1", "b=x=y", "c", "a=2"], "--label"), { a: "2", b: "x=y", c: "" });
  assert.throws(() => parseKeyValues(["=v"], "--label"), /--label "=v" has no key: use --label KEY=VALUE/);
});

test("byte counts", () => {
  assert.equal(parseSize("268435456", "--memory-limit"), 268435456);
  assert.throws(() => parseSize("256m", "--memory-limit"), /--memory-limit takes a whole number of bytes/);
  assert.throws(() => parseSize("-1", "--memory-limit"), /whole number/);
});
