import assert from "node:assert/strict";
import { test } from "node:test";
import { buildInfo, parseBuildInfo, versionLine } from "./build-info.js";

test("parseBuildInfo reads version and revision", () => {
  assert.deepEqual(parseBuildInfo('{"version":"0.1.0","revision":"abc.m"}'), {
    version: "0.1.0",
    revision: "abc.m",
  });
});

test("parseBuildInfo: a missing file, bad JSON or missing fields are unknown", () => {
  const unknown = { version: "unknown", revision: "unknown" };
  assert.deepEqual(parseBuildInfo(undefined), unknown);
  assert.deepEqual(parseBuildInfo("{"), unknown);
  assert.deepEqual(parseBuildInfo("[1]"), unknown);
  assert.deepEqual(parseBuildInfo('{"version":3,"revision":""}'), unknown);
  assert.deepEqual(parseBuildInfo('{"version":"1.2.3"}'), { version: "1.2.3", revision: "unknown" });
});

test("the build's info is the root package.json version and a commit", async () => {
  const { readFile } = await import("node:fs/promises");
  const root = JSON.parse(await readFile(new URL("../../../package.json", import.meta.url), "utf8"));
  const info = buildInfo();
  assert.equal(info.version, root.version);
  assert.match(info.revision, /^[0-9a-f]{40}(\.m)?$|^unknown$/);
  assert.equal(versionLine("berthd"), `berthd berth ${info.version} ${info.revision}\n`);
});
