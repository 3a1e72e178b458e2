import assert from "node:assert/strict";
import { test } from "node:test";
import { RUNTIME_VERSION, version } from "./version.js";

test("Version names berth and CRI v1, as kubelet checks", async () => {
  const v = await version({ version: "0.1.0" });
  assert.equal(v.runtimeName, "berth");
  assert.equal(v.runtimeApiVersion, "v1");
  assert.equal(v.runtimeVersion, RUNTIME_VERSION);
  assert.match(RUNTIME_VERSION, /^\d+\.\d+\.\d+/);
});
