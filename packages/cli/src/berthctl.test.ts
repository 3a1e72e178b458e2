import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { DEFAULT_ADDRESS } from "@berth/client";
import { parseGlobal, run, usage } from "./berthctl.js";
import type { Output } from "./command.js";

class Capture implements Output {
  text = "";
  write(chunk: string): void {
    this.text += chunk;
  }
}

async function berthctl(args: string[], env: Record<string, string> = {}) {
  const stdout = new Capture();
  const stderr = new Capture();
  const code = await run(args, { stdout, stderr, env, signal: new AbortController().signal });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

describe("global options", () => {
  test("defaults, environment, then flags", () => {
    assert.deepEqual(parseGlobal(["images", "ls"], {}).global, {
      address: DEFAULT_ADDRESS,
      namespace: "default",
    });
    const env = { BERTH_ADDRESS: "/env.sock", BERTH_NAMESPACE: "envns" };
    assert.deepEqual(parseGlobal(["images"], env).global, { address: "/env.sock", namespace: "envns" });
    const parsed = parseGlobal(["--address", "/a.sock", "-n", "k8s.io", "images", "ls", "-q"], env);
    assert.deepEqual(parsed.global, { address: "/a.sock", namespace: "k8s.io" });
    assert.deepEqual(parsed.rest, ["images", "ls", "-q"]);
    assert.deepEqual(parseGlobal(["--namespace=x", "-a=/b.sock"], {}).global, {
      address: "/b.sock",
      namespace: "x",
    });
  });

  test("a global option without its value, or an unknown one, is a usage error", async () => {
    const missing = await berthctl(["--address"]);
    assert.equal(missing.code, 1);
    assert.equal(missing.stderr, "berthctl: --address needs a value: see 'berthctl --help'\n");
    const unknown = await berthctl(["--frob", "images", "ls"]);
    assert.equal(unknown.stderr, "berthctl: unknown global option --frob: see 'berthctl --help'\n");
  });
});

describe("dispatch", () => {
  test("no command prints the usage and fails; --help succeeds", async () => {
    const none = await berthctl([]);
    assert.equal(none.code, 1);
    assert.equal(none.stderr, usage());
    const help = await berthctl(["--help"]);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /images pull \[--plain-http\] \[--hosts-config FILE\]/);
    assert.match(help.stdout, /images ls \[-q\]/);
    assert.match(help.stdout, /images rm \[--sync\] REF\.\.\./);
  });

  test("an unknown command is named, followed by the usage", async () => {
    const r = await berthctl(["frob"]);
    assert.equal(r.code, 1);
    assert.ok(
      r.stderr.startsWith('berthctl: unknown command "frob": see the usage below\n\nUsage: berthctl'),
    );
    const sub = await berthctl(["images", "frob"]);
    assert.equal(sub.code, 1);
    assert.match(sub.stderr, /^berthctl: unknown command "images frob"/);
  });

  test("a command's --help lists its options without touching the daemon", async () => {
    const r = await berthctl(["--address", "/nonexistent.sock", "images", "pull", "--help"]);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^Usage: berthctl images pull /);
    assert.match(r.stdout, /--no-unpack/);
  });

  test("bad command options are one-line usage errors", async () => {
    const bogus = await berthctl(["images", "pull", "--bogus", "x"]);
    assert.equal(bogus.code, 1);
    assert.equal(bogus.stderr, "berthctl: unknown option '--bogus': see 'berthctl images pull --help'\n");
    const noRef = await berthctl(["images", "pull"]);
    assert.equal(noRef.stderr, "berthctl: images pull needs an image reference: berthctl images pull REF\n");
    const badRef = await berthctl(["images", "pull", "Not/Valid"]);
    assert.match(
      badRef.stderr,
      /^berthctl: invalid image reference "Not\/Valid": repository names must be lowercase\n$/,
    );
  });

  test("an unreachable daemon is one line saying what to do", async () => {
    const dir = await mkdtemp(join(tmpdir(), "berthctl-"));
    try {
      const sock = join(dir, "none.sock");
      const r = await berthctl(["images", "ls"], { BERTH_ADDRESS: sock });
      assert.equal(r.code, 1);
      assert.equal(
        r.stderr,
        `berthctl: cannot reach the daemon at ${sock} (connect ENOENT): is berthd running? Pass --address or set BERTH_ADDRESS\n`,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test("a missing hosts config file is named", async () => {
    const r = await berthctl(["images", "pull", "--hosts-config", "/nonexistent/hosts.yaml", "busybox"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^berthctl: cannot read hosts config \/nonexistent\/hosts\.yaml: ENOENT/);
  });
});
