import assert from "node:assert/strict";
import { test } from "node:test";
import { parseExecArguments } from "./exec.js";

test("tasks exec: options, task ID, and the command line untouched", () => {
  const a = parseExecArguments(["-t", "--exec-id", "e1", "--cwd", "/", "c1", "sh", "-c", "echo hi", "--tty"]);
  assert.deepEqual(a, {
    id: "c1",
    execId: "e1",
    args: ["sh", "-c", "echo hi", "--tty"],
    tty: true,
    detach: false,
    cwd: "/",
    fifoDir: undefined,
  });
});

test("tasks exec: --exec-id, the ID and a command are required", () => {
  assert.throws(() => parseExecArguments(["c1", "true"]), /tasks exec needs --exec-id/);
  assert.throws(() => parseExecArguments(["--exec-id", "e1"]), /tasks exec needs a task ID/);
  assert.throws(() => parseExecArguments(["--exec-id", "e1", "c1"]), /needs a command to run/);
});
