import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { VersionDefinition } from "@berth/api/containerd/services/version/v1/version";
import { type Server, ServerError, Status, createServer } from "nice-grpc";
import { type Connection, connect, grpcTarget } from "./connection.js";
import { BerthError, errorKind, isNotFound } from "./errdefs.js";

let server: Server;
let dir: string;
let address: string;
let conn: Connection;
let answer: () => void = () => undefined;
const seen: Array<{ namespace: string | undefined; lease: string | undefined }> = [];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "berth-conn-"));
  address = join(dir, "d.sock");
  server = createServer();
  server.add(VersionDefinition, {
    version: async (_req, ctx) => {
      seen.push({
        namespace: ctx.metadata.get("containerd-namespace"),
        lease: ctx.metadata.get("containerd-lease"),
      });
      answer();
      return { version: "1.6.20", revision: "test" };
    },
  });
  await server.listen(grpcTarget(address));
  conn = connect({ address, namespace: "ns1" });
});

after(async () => {
  conn.close();
  await server.shutdown();
  await rm(dir, { recursive: true, force: true });
});

test("socket paths become unix:// targets; targets pass through", () => {
  assert.equal(grpcTarget("/run/berth/berthd.sock"), "unix:///run/berth/berthd.sock");
  assert.equal(grpcTarget("unix:///x.sock"), "unix:///x.sock");
});

test("every call carries the namespace, and the lease when there is one", async () => {
  seen.length = 0;
  assert.equal((await conn.version.version({})).version, "1.6.20");
  await conn.withLease("l1").version.version({});
  await conn.withNamespace("ns2").withLease("l2").version.version({});
  await conn.withLease("l1").withLease(undefined).version.version({});
  assert.deepEqual(seen, [
    { namespace: "ns1", lease: undefined },
    { namespace: "ns1", lease: "l1" },
    { namespace: "ns2", lease: "l2" },
    { namespace: "ns1", lease: undefined },
  ]);
});

test("gRPC status codes arrive as BerthError kinds", async () => {
  const cases: Array<[Status, string]> = [
    [Status.NOT_FOUND, "NotFound"],
    [Status.ALREADY_EXISTS, "AlreadyExists"],
    [Status.FAILED_PRECONDITION, "FailedPrecondition"],
    [Status.UNAVAILABLE, "Unavailable"],
    [Status.INVALID_ARGUMENT, "InvalidArgument"],
  ];
  try {
    for (const [status, kind] of cases) {
      answer = () => {
        throw new ServerError(status, `image "x": ${kind}`);
      };
      await assert.rejects(conn.version.version({}), (err: unknown) => {
        assert.ok(err instanceof BerthError);
        assert.equal(err.kind, kind);
        assert.equal(err.message, `image "x": ${kind}`);
        return true;
      });
    }
  } finally {
    answer = () => undefined;
  }
  answer = () => {
    throw new ServerError(Status.NOT_FOUND, "nope");
  };
  try {
    await assert.rejects(conn.version.version({}), (err: unknown) => isNotFound(err));
  } finally {
    answer = () => undefined;
  }
});

test("a daemon that is not there is Unavailable", async () => {
  const missing = connect({ address: join(dir, "missing.sock"), namespace: "default" });
  try {
    await assert.rejects(missing.version.version({}), (err: unknown) => errorKind(err) === "Unavailable");
  } finally {
    missing.close();
  }
});
