import assert from "node:assert/strict";
import { test } from "node:test";
import { errorStreamPayload, resultFromErrorStream } from "./status.js";

test("v4: a metav1.Status as kubelet marshals it", () => {
  assert.equal(
    errorStreamPayload({ kind: "success" }, true)?.toString(),
    '{"metadata":{},"status":"Success"}',
  );
  assert.equal(
    errorStreamPayload({ kind: "exit", code: 3, message: "command 'false' exited with 3" }, true)?.toString(),
    '{"metadata":{},"status":"Failure","message":"command terminated with non-zero exit code: ' +
      'command \'false\' exited with 3","reason":"NonZeroExitCode",' +
      '"details":{"causes":[{"reason":"ExitCode","message":"3"}]}}',
  );
  const internal = JSON.parse(errorStreamPayload({ kind: "error", message: "boom" }, true)?.toString() ?? "");
  assert.equal(internal.reason, "InternalError");
  assert.equal(internal.code, 500);
});

test("older protocols: the message as text on failure, nothing on success", () => {
  assert.equal(errorStreamPayload({ kind: "success" }, false), undefined);
  assert.equal(
    errorStreamPayload({ kind: "exit", code: 2, message: "x" }, false)?.toString(),
    "command terminated with non-zero exit code: x",
  );
});

test("a client reads the status the server wrote: success, the exit code, an error's message", () => {
  const read = (result: Parameters<typeof errorStreamPayload>[0]) =>
    resultFromErrorStream(errorStreamPayload(result, true) ?? Buffer.alloc(0));
  assert.deepEqual(read({ kind: "success" }), { kind: "success" });
  assert.deepEqual(read({ kind: "exit", code: 3, message: "command 'false' exited with 3" }), {
    kind: "exit",
    code: 3,
    message: "command terminated with non-zero exit code: command 'false' exited with 3",
  });
  assert.deepEqual(read({ kind: "error", message: "container x is not running" }), {
    kind: "error",
    message: "Internal error occurred: container x is not running",
  });
});

test("a client reads what other servers write: nothing, plain text, a status without an exit code", () => {
  assert.deepEqual(resultFromErrorStream(Buffer.alloc(0)), { kind: "success" });
  assert.deepEqual(resultFromErrorStream(Buffer.from("error executing command: boom\n")), {
    kind: "error",
    message: "error executing command: boom",
  });
  assert.deepEqual(
    resultFromErrorStream(
      Buffer.from(
        '{"status":"Failure","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"x"}]}}',
      ),
    ).kind,
    "error",
  );
});
