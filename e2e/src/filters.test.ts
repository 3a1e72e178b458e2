// containerd's filter grammar through Debian's ctr, against berthd and containerd 1.6:
// `|…|` and `/…/` quoted regexps (Docker subscribes with `topic~=|^/tasks/|`), `"…"`
// values, quoted label keys, or-ed filters, and the InvalidArgument of a malformed one.
import assert from "node:assert/strict";
import { type ChildProcessByStdio, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import type { Readable } from "node:stream";
import { after, before, describe, test } from "node:test";
import { type DaemonUnderTest, daemonKinds } from "./daemons.js";
import { CTR_BINARY, ctr, ctrOk } from "./fixtures/ctr.js";
import { sleep, waitFor } from "./fixtures/tmp.js";

interface EventWatch {
  lines(): string[];
  stop(): void;
}

/** `ctr events FILTER...`, collecting the topics it prints. */
async function watchEvents(address: string, filters: string[]): Promise<EventWatch> {
  const p: ChildProcessByStdio<null, Readable, Readable> = spawn(
    CTR_BINARY,
    ["--address", address, "events", ...filters],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let out = "";
  p.stdout.on("data", (d: Buffer) => {
    out += d.toString();
  });
  // ctr subscribes right after it starts; give it a moment before events are made.
  await sleep(700);
  return {
    lines: () => out.split("\n").filter((l) => l.trim() !== ""),
    stop: () => p.kill("SIGKILL"),
  };
}

for (const { kind, start } of daemonKinds) {
  describe(`containerd filters through ctr against ${kind}`, () => {
    let daemon: DaemonUnderTest;
    let blob: string;

    before(async () => {
      daemon = await start();
      const data = "a blob for filters\n";
      blob = `sha256:${createHash("sha256").update(data).digest("hex")}`;
      // `ctr content ingest` takes no lease: until the gc.root label is on, the blob is
      // garbage, and containerd's GC (which runs shortly after start) may take it first.
      // Ingest again then; a few tries at most.
      for (let attempt = 1; ; attempt++) {
        await ctrOk(daemon.address, ["content", "ingest", "filters-blob"], { input: data });
        const labelled = await ctr(daemon.address, [
          "content",
          "label",
          blob,
          "example.com/tier=gold",
          "plain=x",
          "containerd.io/gc.root=1",
        ]);
        if (labelled.exitCode === 0) break;
        if (attempt >= 3 || !/not found/.test(labelled.stderr)) {
          assert.fail(`ctr content label ${blob}: ${labelled.stderr}`);
        }
      }
      assert.deepEqual((await ctrOk(daemon.address, ["content", "ls", "-q"])).stdout.trim().split("\n"), [
        blob,
      ]);
      assert.match(blob, /^sha256:[0-9a-f]{64}$/);
    });

    after(async () => {
      await daemon?.stop();
    });

    test("ctr events with Docker's |…| regexp filter sees only the matching topics", async () => {
      const regexp = await watchEvents(daemon.address, ["namespace==default,topic~=|^/namespaces/|"]);
      const quoted = await watchEvents(daemon.address, ['topic=="/namespaces/delete"', "topic~=/update$/"]);
      try {
        await ctrOk(daemon.address, ["namespaces", "create", "filters-a"]);
        await ctrOk(daemon.address, ["namespaces", "create", "filters-b"]);
        await ctrOk(daemon.address, ["namespaces", "label", "filters-a", "k=v"]);
        await ctrOk(daemon.address, ["namespaces", "rm", "filters-a", "filters-b"]);
        await waitFor(() => regexp.lines().length >= 3, {
          timeoutMs: 10_000,
          what: `namespace events in namespace default in: ${regexp.lines().join(" | ")}`,
        });
        await waitFor(() => quoted.lines().length >= 3, {
          timeoutMs: 10_000,
          what: `delete and update events in: ${quoted.lines().join(" | ")}`,
        });
        await sleep(300);
        // Create and update are published in the caller's namespace (ctr's "default"),
        // delete in the deleted one, as containerd does.
        const seen = regexp.lines();
        assert.ok(
          seen.every((l) => / default \/namespaces\//.test(l)),
          `other namespaces seen: ${seen.join(" | ")}`,
        );
        assert.deepEqual(
          seen.map((l) => /\/namespaces\/\w+ \{"name":"[\w-]+"/.exec(l)?.[0]),
          [
            '/namespaces/create {"name":"filters-a"',
            '/namespaces/create {"name":"filters-b"',
            '/namespaces/update {"name":"filters-a"',
          ],
        );
        const topics = quoted.lines().map((l) => /\/namespaces\/\w+/.exec(l)?.[0]);
        assert.deepEqual(topics.sort(), ["/namespaces/delete", "/namespaces/delete", "/namespaces/update"]);
      } finally {
        regexp.stop();
        quoted.stop();
      }
    });

    test("ctr content ls filters on quoted label keys, regexps and or-ed filters", async () => {
      const ls = async (...filters: string[]) =>
        (await ctrOk(daemon.address, ["content", "ls", "-q", ...filters])).stdout
          .trim()
          .split("\n")
          .filter(Boolean);
      assert.deepEqual(await ls('labels."example.com/tier"==gold'), [blob]);
      assert.deepEqual(await ls('labels."example.com/tier"=="gold",labels.plain==x'), [blob]);
      assert.deepEqual(await ls('labels."example.com/tier"~=|^go|'), [blob]);
      assert.deepEqual(await ls("digest~=/^sha256:/"), [blob]);
      assert.deepEqual(await ls('labels."example.com/tier"!=gold'), []);
      assert.deepEqual(await ls('labels."example.com/tier"==silver', "labels.plain"), [blob]);
      assert.deepEqual(await ls("labels.absent"), []);
    });

    test("ctr namespaces label creates a namespace that does not exist yet, as containerd does", async () => {
      await ctrOk(daemon.address, ["namespaces", "label", "filters-new", "team=a"]);
      const rows = (await ctrOk(daemon.address, ["namespaces", "ls"])).stdout;
      assert.match(rows, /^filters-new\s+team=a\s*$/m);
      await ctrOk(daemon.address, ["namespaces", "label", "filters-new", "team="]);
      assert.match((await ctrOk(daemon.address, ["namespaces", "ls"])).stdout, /^filters-new\s*$/m);
      await ctrOk(daemon.address, ["namespaces", "rm", "filters-new"]);
    });

    test("a malformed filter is refused as an invalid argument", async () => {
      for (const bad of ["labels.plain=x", "labels.plain==|x|", "labels.plain~=|x"]) {
        const r = await ctr(daemon.address, ["content", "ls", bad]);
        assert.notEqual(r.exitCode, 0, `${bad} was accepted`);
        assert.match(r.stderr, /invalid argument/i, `${bad}: ${r.stderr}`);
      }
      // The daemon still answers.
      await ctrOk(daemon.address, ["version"]);
    });
  });
}
