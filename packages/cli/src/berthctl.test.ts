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
  test("--version prints berthctl's version and revision in one line, like containerd's", async () => {
    for (const flag of ["--version", "-v"]) {
      const r = await berthctl([flag]);
      assert.equal(r.code, 0);
      assert.match(r.stdout, /^berthctl berth \d+\.\d+\.\d+\S* \S+\n$/);
    }
  });

  test("no command prints the usage and fails; --help succeeds", async () => {
    const none = await berthctl([]);
    assert.equal(none.code, 1);
    assert.equal(none.stderr, usage());
    const help = await berthctl(["--help"]);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /images pull \[--plain-http\] \[--hosts-config FILE\]/);
    assert.match(help.stdout, /images ls \[-q\]/);
    assert.match(help.stdout, /images rm \[--sync\] REF\.\.\./);
    assert.match(help.stdout, /^ {2}run \[options\] IMAGE ID \[COMMAND \[ARG\.\.\.\]\]/m);
    for (const command of [
      "tasks ls",
      "tasks ps",
      "tasks exec",
      "tasks kill",
      "tasks pause",
      "tasks resume",
    ]) {
      assert.match(help.stdout, new RegExp(`^  ${command} `, "m"));
    }
    assert.match(help.stdout, /^ {2}tasks rm \[-f\]/m);
    assert.match(help.stdout, /^ {2}tasks metrics /m);
    assert.match(help.stdout, /^ {2}containers ls \[-q\]/m);
    assert.match(help.stdout, /^ {2}containers rm \[--keep-snapshot\] ID\.\.\./m);
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

  test("run --help is help, but --help in the command line it runs is not", async () => {
    const help = await berthctl(["--address", "/nonexistent.sock", "run", "--rm", "--help"]);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^Usage: berthctl run \[options\] IMAGE ID/);
    assert.match(help.stdout, /--memory-limit BYTES/);
    const passed = await berthctl(["--address", "/nonexistent.sock", "run", "img", "c1", "ls", "--help"]);
    assert.equal(passed.code, 1);
    assert.match(passed.stderr, /^berthctl: cannot reach the daemon at \/nonexistent\.sock/);
    const exec = await berthctl(["tasks", "exec", "--help"]);
    assert.match(
      exec.stdout,
      /^Usage: berthctl tasks exec \[-t\] \[-d\] \[--cwd DIR\] --exec-id EID ID COMMAND/,
    );
  });

  test("run, tasks and containers usage mistakes are one line each", async () => {
    const cases: Array<[string[], string]> = [
      [
        ["run"],
        "berthctl: run needs an image and a container ID: berthctl run IMAGE ID [COMMAND [ARG...]]\n",
      ],
      [["run", "--rm", "-d", "img", "c1"], "berthctl: --rm and --detach cannot be used together: pick one\n"],
      [
        ["run", "img", "../x"],
        'berthctl: invalid container ID "../x": use letters and digits, joined by single . _ or - (at most 76 characters)\n',
      ],
      [
        ["tasks", "kill", "-s", "SIGNOPE", "c1"],
        "berthctl: unknown signal SIGNOPE: use a name such as SIGTERM or a number\n",
      ],
      [["tasks", "kill"], "berthctl: tasks kill needs a container ID: berthctl tasks kill ID\n"],
      [["tasks", "ps", "a", "b"], "berthctl: tasks ps takes one container ID, got 2: run it once for each\n"],
      [
        ["tasks", "metrics", "--format", "xml", "c1"],
        'berthctl: unknown format "xml": use --format table or --format json\n',
      ],
      [["tasks", "rm"], "berthctl: tasks rm needs at least one task: berthctl tasks rm ID...\n"],
      [
        ["containers", "rm"],
        "berthctl: containers rm needs at least one container: berthctl containers rm ID...\n",
      ],
    ];
    for (const [args, stderr] of cases) {
      const r = await berthctl(["--address", "/nonexistent.sock", ...args]);
      assert.equal(r.code, 1, args.join(" "));
      assert.equal(r.stderr, stderr);
    }
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
