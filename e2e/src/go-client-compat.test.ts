// What containerd's Go client (ctr, nerdctl, Docker) reads from a daemon beyond the plain
// calls, checked on berthd and on Debian's containerd 1.6 with the same steps: the digest
// a content writer reports as it goes, an ingest ref free for a resume the moment its
// write stream ends, and a resumed `ctr content ingest`.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { WriteAction } from "@berth/api/containerd/services/content/v1/content";
import { type DaemonUnderTest, daemonKinds } from "./daemons.js";
import { ctr, ctrOk, parseTable } from "./fixtures/ctr.js";
import { tempDir, waitFor } from "./fixtures/tmp.js";
import { type Clients, clients, sha256 } from "./grpc.js";

for (const { kind, start } of daemonKinds) {
  describe(`containerd Go client expectations against ${kind}`, () => {
    let daemon: DaemonUnderTest;
    let c: Clients;
    const ns = `goclient-${randomBytes(3).toString("hex")}`;

    before(async () => {
      daemon = await start();
      c = clients(daemon.address, ns);
    });
    after(async () => {
      c?.close();
      await daemon?.stop();
    });

    test("a Write stream's answers carry the digest of what the ingest holds so far", async () => {
      const data = randomBytes(5000);
      const ref = `digest-${randomBytes(4).toString("hex")}`;
      async function* requests() {
        yield { action: WriteAction.STAT, ref, total: data.length, expected: sha256(data) };
        yield { action: WriteAction.WRITE, ref, offset: 0, data: data.subarray(0, 2000) };
        yield { action: WriteAction.STAT, ref };
        yield {
          action: WriteAction.COMMIT,
          ref,
          offset: 2000,
          data: data.subarray(2000),
          total: data.length,
        };
      }
      const answers = [];
      for await (const resp of c.content.write(requests())) answers.push(resp);
      // containerd repeats its last answer once the stream ends; the first four are the replies.
      assert.deepEqual(
        answers.slice(0, 4).map((a) => [a.offset, a.digest]),
        [
          [0, sha256(Buffer.alloc(0))],
          [2000, sha256(data.subarray(0, 2000))],
          [2000, sha256(data.subarray(0, 2000))],
          [5000, sha256(data)],
        ],
      );
    });

    test("an ingest ref can be resumed right after its write stream ends, 30 times in a row", async () => {
      const ref = `resume-${randomBytes(4).toString("hex")}`;
      let offset = 0;
      for (let i = 0; i < 30; i++) {
        // As the Go client's writer does: ask, write, read the answers, CloseSend, and open
        // the next writer without waiting for the server to end the stream.
        let closeSend = () => {};
        const closed = new Promise<void>((resolve) => {
          closeSend = resolve;
        });
        async function* requests() {
          yield { action: WriteAction.STAT, ref };
          yield { action: WriteAction.WRITE, ref, offset, data: Buffer.alloc(10, i) };
          await closed;
        }
        const answers = c.content.write(requests())[Symbol.asyncIterator]();
        try {
          assert.equal((await answers.next()).value?.offset, offset, `writer ${i} resumes at ${offset}`);
          offset = (await answers.next()).value?.offset ?? -1;
        } finally {
          closeSend();
        }
        void answers.next().catch(() => undefined);
      }
      assert.equal(offset, 300);
      assert.equal((await c.content.status({ ref })).status?.offset, 300);
      await c.content.abort({ ref });
    });

    test("ctr content ingest killed half-way is listed by ctr content active and resumed by the next ingest", async () => {
      const dir = await tempDir("ingest-");
      const data = randomBytes(3 << 20);
      const digest = `sha256:${createHash("sha256").update(data).digest("hex")}`;
      const file = join(dir, "blob");
      await writeFile(file, data);
      const ref = `ctr-ingest-${randomBytes(4).toString("hex")}`;
      const args = [
        "content",
        "ingest",
        "--expected-size",
        String(data.length),
        "--expected-digest",
        digest,
        ref,
      ];
      const first = spawn("/usr/bin/ctr", ["--address", daemon.address, "--namespace", ns, ...args], {
        stdio: ["pipe", "ignore", "ignore"],
      });
      const exited = new Promise((resolve) => first.on("exit", resolve));
      first.stdin.on("error", () => undefined);
      first.stdin.write(data.subarray(0, 1 << 20));
      try {
        await waitFor(
          async () => (await c.content.status({ ref }).catch(() => undefined))?.status?.offset === 1 << 20,
          { timeoutMs: 15_000, what: `ingest ${ref} at 1 MiB` },
        );
      } finally {
        first.kill("SIGKILL");
        await exited;
      }
      const active = parseTable(
        (await ctrOk(daemon.address, ["content", "active"], { namespace: ns })).stdout,
      );
      assert.ok(
        active.some((a) => a.REF === ref),
        JSON.stringify(active),
      );
      const resumed = await ctr(daemon.address, args, { namespace: ns, inputFile: file });
      assert.equal(resumed.exitCode, 0, resumed.stderr);
      const blobs = parseTable((await ctrOk(daemon.address, ["content", "ls"], { namespace: ns })).stdout);
      assert.ok(
        blobs.some((b) => b.DIGEST === digest),
        JSON.stringify(blobs),
      );
      const left = parseTable((await ctrOk(daemon.address, ["content", "active"], { namespace: ns })).stdout);
      assert.equal(
        left.some((a) => a.REF === ref),
        false,
      );
    });
  });
}
