import assert from "node:assert/strict";
import { test } from "node:test";
import { errorStreamPayload } from "./status.js";

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
