import assert from "node:assert/strict";
import { test } from "node:test";
import { parseRunArguments } from "./run.js";

test("run: options, image, ID and a command line that keeps its own options", () => {
  const a = parseRunArguments([
    "--rm",
    "-t",
    "--runtime",
    "io.containerd.runc.v2",
    "--env",
    "A=1",
    "--env",
    "B=2",
    "--cwd",
    "/tmp",
    "--net-host",
    "--memory-limit",
    "1048576",
    "--label",
    "team=a",
    "busybox",
    "c1",
    "sh",
    "-c",
    "exit 3",
  ]);
  assert.equal(a.image, "busybox");
  assert.equal(a.id, "c1");
  assert.deepEqual(a.args, ["sh", "-c", "exit 3"]);
  assert.equal(a.rm, true);
  assert.equal(a.tty, true);
  assert.equal(a.detach, false);
  assert.equal(a.runtime, "io.containerd.runc.v2");
  assert.deepEqual(a.env, ["A=1", "B=2"]);
  assert.equal(a.cwd, "/tmp");
  assert.equal(a.netHost, true);
  assert.equal(a.memoryLimit, 1048576);
  assert.deepEqual(a.labels, { team: "a" });
});

test("run: defaults", () => {
  const a = parseRunArguments(["img", "c1"]);
  assert.equal(a.runtime, "io.containerd.berth.v2");
  assert.deepEqual(a.args, []);
  assert.equal(a.snapshotter, undefined);
  assert.equal(a.memoryLimit, undefined);
  assert.deepEqual(a.labels, {});
  assert.equal(parseRunArguments(["-d", "img", "c1", "sleep", "9"]).detach, true);
});

test("run: mistakes are usage errors that say what to type", () => {
  assert.throws(() => parseRunArguments([]), /run needs an image and a container ID: berthctl run IMAGE ID/);
  assert.throws(
    () => parseRunArguments(["img"]),
    /run needs a container ID after the image: berthctl run img ID/,
  );
  assert.throws(
    () => parseRunArguments(["--rm", "-d", "img", "c1"]),
    /--rm and --detach cannot be used together/,
  );
  assert.throws(() => parseRunArguments(["--memory-limit", "1g", "img", "c1"]), /whole number of bytes/);
  assert.throws(
    () => parseRunArguments(["--nope", "img", "c1"]),
    /unknown option '--nope': see 'berthctl run --help'/,
  );
});
