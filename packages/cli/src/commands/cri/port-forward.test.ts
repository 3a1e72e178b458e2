import assert from "node:assert/strict";
import { test } from "node:test";
import { parsePortSpec, parsePortSpecs } from "./port-forward.js";

test("port specs in kubectl's forms", () => {
  assert.deepEqual(parsePortSpec("8080"), { local: 8080, remote: 8080 });
  assert.deepEqual(parsePortSpec("9090:80"), { local: 9090, remote: 80 });
  assert.deepEqual(parsePortSpec("0:80"), { local: 0, remote: 80 });
  assert.deepEqual(parsePortSpec(":80"), { local: 0, remote: 80 });
  assert.deepEqual(parsePortSpec("65535:1"), { local: 65535, remote: 1 });
  for (const bad of ["", "0", "80:", "80:0", "http", "1:2:3", "70000", "-1:80", "8080:65536", " 80"]) {
    assert.throws(() => parsePortSpec(bad), /^UsageError: invalid port .*: use \[LOCAL:\]REMOTE/, bad);
  }
});

test("a local port named twice is refused; free ports any number of times", () => {
  assert.deepEqual(parsePortSpecs(["0:80", ":81", "8080:80"]), [
    { local: 0, remote: 80 },
    { local: 0, remote: 81 },
    { local: 8080, remote: 80 },
  ]);
  assert.throws(() => parsePortSpecs(["8080:80", "8080"]), /local port 8080 is given twice/);
});
