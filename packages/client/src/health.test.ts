import assert from "node:assert/strict";
import { test } from "node:test";
import type { CallContext } from "nice-grpc-common";
import { HealthStatus, ServingStatus, healthService } from "./health.js";

const context = (signal: AbortSignal) => ({ signal }) as CallContext;

test("Check: the server is SERVING, an unknown service NOT_FOUND", async () => {
  const service = healthService(new HealthStatus());
  const { signal } = new AbortController();
  assert.deepEqual(await service.check({ service: "" }, context(signal)), { status: ServingStatus.SERVING });
  await assert.rejects(
    service.check({ service: "runtime.v1.RuntimeService" }, context(signal)),
    (err: {
      code?: number;
    }) => err.code === 5,
  );
});

test("Watch: the status at once, then each change; an unknown service until it is known", async () => {
  const health = new HealthStatus();
  const service = healthService(health);
  const abort = new AbortController();
  const server = service.watch({ service: "" }, context(abort.signal))[Symbol.asyncIterator]();
  const other = service.watch({ service: "x" }, context(abort.signal))[Symbol.asyncIterator]();
  assert.deepEqual((await server.next()).value, { status: ServingStatus.SERVING });
  assert.deepEqual((await other.next()).value, { status: ServingStatus.SERVICE_UNKNOWN });
  const nextServer = server.next();
  const nextOther = other.next();
  health.set("x", ServingStatus.SERVING);
  assert.deepEqual((await nextOther).value, { status: ServingStatus.SERVING });
  health.shutdown();
  assert.deepEqual((await nextServer).value, { status: ServingStatus.NOT_SERVING });
  health.set("", ServingStatus.SERVING);
  assert.equal(health.get(""), ServingStatus.NOT_SERVING, "no change after shutdown");
  const ending = server.next();
  abort.abort();
  assert.equal((await ending).done, true, "a cancelled watch ends");
});
