import assert from "node:assert/strict";
import { mkdtemp, open, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { test } from "node:test";
import { silentLogger } from "@berth/client/log";
import type { Cri } from "../cri.js";
import { runExec } from "./exec-session.js";
import type { RemoteCommandStreams } from "./remote-command.js";
import type { RemoteCommandResult } from "./status.js";

/**
 * A Cri whose daemon plays a shim on real FIFOs: start writes `output` to the process's
 * stdout and the process exits with `exitCode`. `events` records the calls in order.
 */
function fakeCri(state: string, output: string, exitCode: number, events: string[]): Cri {
  let exited: (status: number) => void = () => {};
  let fifos: { stdout: string; stderr: string } = { stdout: "", stderr: "" };
  const container = {
    meta: { id: "c1" },
    status: { startedAt: 1n, finishedAt: 0n },
    unknown: false,
  };
  const spec = { process: { args: ["sh"], env: ["PATH=/bin"], cwd: "/" } };
  return {
    log: silentLogger,
    config: { state },
    containers: { find: (id: string) => (id === "c1" ? container : undefined) },
    containerd: {
      containers: {
        get: async () => ({ container: { spec: { value: Buffer.from(JSON.stringify(spec)) } } }),
      },
      tasks: {
        exec: async (req: { stdout: string; stderr: string }) => {
          events.push("exec");
          fifos = { stdout: req.stdout, stderr: req.stderr };
        },
        wait: () =>
          new Promise<{ exitStatus: number }>((resolve) => {
            exited = (exitStatus) => resolve({ exitStatus });
          }),
        start: async () => {
          events.push("start");
          const out = await open(fifos.stdout, "w");
          const err = await open(fifos.stderr, "w");
          await out.write(output);
          await out.close();
          await err.close();
          exited(exitCode);
        },
        deleteProcess: async () => {
          events.push("deleteProcess");
        },
      },
    },
  } as unknown as Cri;
}

function fakeClient(events: string[]): {
  io: RemoteCommandStreams;
  stdout: () => string;
  results: RemoteCommandResult[];
} {
  const stdout = new PassThrough();
  const chunks: Buffer[] = [];
  stdout.on("data", (c: Buffer) => chunks.push(c));
  const results: RemoteCommandResult[] = [];
  const io: RemoteCommandStreams = {
    protocol: "v4.channel.k8s.io",
    stdin: undefined,
    stdout,
    stderr: undefined,
    resizable: false,
    onResize: () => {},
    gone: new AbortController().signal,
    finish: async (result) => {
      events.push("finish");
      results.push(result);
    },
  };
  return { io, stdout: () => Buffer.concat(chunks).toString(), results };
}

for (const [exitCode, expected] of [
  [0, { kind: "success" }],
  [3, { kind: "exit", code: 3, message: "command 'echo hi' exited with 3" }],
] as const) {
  test(`an exec that ends (exit ${exitCode}) reports to the client before its process and FIFOs are deleted`, async () => {
    const state = await mkdtemp(join(tmpdir(), "exec-session-"));
    try {
      const events: string[] = [];
      const cri = fakeCri(state, "hi\n", exitCode, events);
      const client = fakeClient(events);
      const result = await runExec(cri, { containerId: "c1", cmd: ["echo", "hi"], tty: false }, client.io);
      assert.deepEqual(result, expected);
      assert.equal(client.stdout(), "hi\n");
      assert.deepEqual(client.results, [expected]);
      assert.deepEqual(events, ["exec", "start", "finish", "deleteProcess"]);
      assert.deepEqual(await readdir(join(state, "exec")), [], "the FIFOs are removed");
    } finally {
      await rm(state, { recursive: true, force: true });
    }
  });
}
