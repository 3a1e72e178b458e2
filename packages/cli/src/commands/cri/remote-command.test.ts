import assert from "node:assert/strict";
import { test } from "node:test";
import type { Output } from "../../command.js";
import { execMode, finishExec } from "./exec.js";
import { outputStream, terminalSize, withoutPrefix } from "./remote-command.js";

test("exec: ExecSync without -i and -t; a session with either; -s and --timeout only for ExecSync", () => {
  assert.deepEqual(execMode({}), { kind: "sync" });
  assert.deepEqual(execMode({ sync: true, timeout: "5" }), { kind: "sync" });
  assert.deepEqual(execMode({ interactive: true }), { kind: "streaming", stdin: true, tty: false });
  assert.deepEqual(execMode({ tty: true }), { kind: "streaming", stdin: false, tty: true });
  assert.deepEqual(execMode({ interactive: true, tty: true }), { kind: "streaming", stdin: true, tty: true });
  assert.throws(
    () => execMode({ sync: true, tty: true }),
    /^UsageError: -s runs the command through ExecSync/,
  );
  assert.throws(() => execMode({ timeout: "3", interactive: true }), /^UsageError: --timeout applies/);
});

test("exec: the command's exit code passed on; an interrupt is 130; the runtime's error in its words", () => {
  assert.doesNotThrow(() => finishExec({ kind: "success" }, "c1", ["true"]));
  assert.throws(
    () => finishExec({ kind: "exit", code: 3, message: "x" }, "c1", ["false"]),
    (err: unknown) => (err as { exitCode?: number }).exitCode === 3,
  );
  assert.throws(
    () => finishExec({ kind: "interrupted", signal: "SIGINT" }, "c1", ["sh"]),
    (err: unknown) => (err as { exitCode?: number }).exitCode === 130,
  );
  assert.throws(
    () =>
      finishExec({ kind: "error", message: "Internal error occurred: no such file" }, "c1", ["nope", "-x"]),
    /^BerthError: cannot run nope -x in c1: no such file: check the command, and the runtime's log$/,
  );
  assert.equal(withoutPrefix("plain"), "plain");
});

test("the terminal's size only when stdout is a terminal with one", () => {
  assert.deepEqual(terminalSize({ write: () => true, isTTY: true, columns: 120, rows: 40 }), {
    width: 120,
    height: 40,
  });
  assert.equal(terminalSize({ write: () => true, columns: 120, rows: 40 }), undefined);
  assert.equal(terminalSize({ write: () => true, isTTY: true, columns: 0, rows: 0 }), undefined);
});

test("output waits for the Output's drain when it asks for one", async () => {
  const written: string[] = [];
  let drain: (() => void) | undefined;
  const out: Output = {
    write: (chunk) => {
      written.push(Buffer.from(chunk).toString());
      return written.length > 1;
    },
    once: (_event, listener) => {
      drain = listener;
    },
  };
  let writes = 0;
  const stream = outputStream(out, () => writes++);
  const second = new Promise<void>((resolve) => {
    stream.write("a");
    stream.write("b", () => resolve());
  });
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(written, ["a"], "the second write waits for drain");
  drain?.();
  await second;
  assert.deepEqual(written, ["a", "b"]);
  assert.equal(writes, 2);
});
