import assert from "node:assert/strict";
import { test } from "node:test";
import { encodeTerminalSize } from "./terminal-size.js";

test("a size is a JSON object with Go's field names", () => {
  assert.equal(encodeTerminalSize({ width: 120, height: 40 }).toString(), '{"Width":120,"Height":40}');
});
