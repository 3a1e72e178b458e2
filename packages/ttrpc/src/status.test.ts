import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Code, TtrpcError, codeName, statusFromError } from "./status.js";

describe("status mapping", () => {
  it("round-trips a TtrpcError through google.rpc.Status", () => {
    const details = [{ typeUrl: "type.googleapis.com/x", value: Buffer.from([1]) }];
    const err = new TtrpcError(Code.NOT_FOUND, "container abc: not found", { details });
    const status = statusFromError(err);
    assert.deepEqual(status, { code: 5, message: "container abc: not found", details });
    const back = TtrpcError.fromStatus(status);
    assert.equal(back.code, Code.NOT_FOUND);
    assert.equal(back.message, "container abc: not found");
    assert.deepEqual(back.details, details);
    assert.ok(back instanceof Error);
  });

  it("keeps a numeric gRPC code carried by any error", () => {
    const err = Object.assign(new Error("exists"), { code: Code.ALREADY_EXISTS });
    assert.deepEqual(statusFromError(err), { code: 6, message: "exists", details: [] });
    const outOfRange = Object.assign(new Error("odd"), { code: 99 });
    assert.equal(statusFromError(outOfRange).code, Code.UNKNOWN);
  });

  it("maps errno names like upstream maps os errors, and the rest to UNKNOWN", () => {
    const enoent = Object.assign(new Error("ENOENT: no such file"), { code: "ENOENT" });
    assert.equal(statusFromError(enoent).code, Code.NOT_FOUND);
    assert.equal(
      statusFromError(Object.assign(new Error("x"), { code: "EACCES" })).code,
      Code.PERMISSION_DENIED,
    );
    assert.deepEqual(statusFromError(new Error("boom")), {
      code: Code.UNKNOWN,
      message: "boom",
      details: [],
    });
    assert.deepEqual(statusFromError("text"), { code: Code.UNKNOWN, message: "text", details: [] });
  });

  it("maps aborts and timeouts like upstream maps context errors, ignoring DOMException's legacy codes", () => {
    assert.equal(statusFromError(new DOMException("stop", "AbortError")).code, Code.CANCELLED);
    assert.equal(statusFromError(new DOMException("slow", "TimeoutError")).code, Code.DEADLINE_EXCEEDED);
    const nodeAbort = Object.assign(new Error("The operation was aborted"), {
      name: "AbortError",
      code: "ABORT_ERR",
    });
    assert.equal(statusFromError(nodeAbort).code, Code.CANCELLED);
    assert.equal(statusFromError(new DOMException("missing", "NotFoundError")).code, Code.UNKNOWN);
  });

  it("names codes", () => {
    assert.equal(codeName(Code.UNIMPLEMENTED), "UNIMPLEMENTED");
    assert.equal(codeName(16), "UNAUTHENTICATED");
    assert.equal(codeName(42), "CODE(42)");
  });
});
