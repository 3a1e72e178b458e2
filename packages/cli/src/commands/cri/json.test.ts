import assert from "node:assert/strict";
import { test } from "node:test";
import {
  ContainerState,
  ContainerStatus,
  MountPropagation,
  NamespaceMode,
  PodSandboxState,
  PodSandboxStatus,
  containerStateToJSON,
} from "@berth/api/cri/runtime/v1/api";
import type { Output } from "../../command.js";
import { containerStatusJson } from "./inspect.js";
import { podStatusJson } from "./inspectp.js";
import { protoJson, sortKeys, statusDocument, writeDocuments } from "./json.js";

const NS = BigInt(Date.UTC(2024, 4, 1, 10)) * 1_000_000n;

test("protobuf JSON with defaults: 64-bit as strings, bytes as base64, enums by name, unset messages left out", () => {
  assert.deepEqual(
    protoJson(
      {
        id: "c1",
        state: ContainerState.CONTAINER_CREATED,
        createdAt: 5n,
        attempt: 0,
        labels: {},
        args: [],
        image: undefined,
        data: Buffer.from("hi"),
        nested: [{ state: ContainerState.CONTAINER_EXITED }],
      },
      { state: containerStateToJSON },
    ),
    {
      id: "c1",
      state: "CONTAINER_CREATED",
      createdAt: "5",
      attempt: 0,
      labels: {},
      args: [],
      data: "aGk=",
      nested: [{ state: "CONTAINER_EXITED" }],
    },
  );
});

test("inspect's document: status beside the runtime's info, JSON info parsed, keys sorted", () => {
  const doc = statusDocument(
    { b: 1, a: { d: 2, c: 3 } },
    { info: '{"pid": 42, "config": {"z": 1, "a": 2}}', plain: '"quoted"', text: "hello" },
  );
  assert.deepEqual(Object.keys(doc as object), ["info", "plain", "status", "text"]);
  assert.deepEqual(doc, {
    info: { config: { a: 2, z: 1 }, pid: 42 },
    plain: "quoted",
    status: { a: { c: 3, d: 2 }, b: 1 },
    text: "hello",
  });
  assert.deepEqual(Object.keys((sortKeys({ b: 1, a: 2 }) as object) ?? {}), ["a", "b"]);
  assert.deepEqual(statusDocument(undefined, { x: "{not json" }), { x: "{not json" });
});

test("one document prints as itself, several as a list", () => {
  let text = "";
  const out: Output = {
    write: (c) => {
      text += String(c);
    },
  };
  writeDocuments(out, [{ a: 1 }]);
  assert.equal(text, '{\n  "a": 1\n}\n');
  text = "";
  writeDocuments(out, [{ a: 1 }, { a: 2 }]);
  assert.deepEqual(JSON.parse(text), [{ a: 1 }, { a: 2 }]);
});

test("a container's status as crictl shows it: times in RFC 3339, zero until they happened", () => {
  const base = ContainerStatus.fromPartial({
    id: "c1",
    metadata: { name: "web", attempt: 0 },
    createdAt: NS,
    startedAt: NS + 1_500_000_000n,
    finishedAt: NS + 3_000_000_000n,
    mounts: [{ containerPath: "/d", hostPath: "/h", propagation: MountPropagation.PROPAGATION_PRIVATE }],
    logPath: "/logs/web/0.log",
  });
  const created = containerStatusJson({ ...base, state: ContainerState.CONTAINER_CREATED }, 0) as Record<
    string,
    unknown
  >;
  assert.equal(created.state, "CONTAINER_CREATED");
  assert.equal(created.createdAt, "2024-05-01T10:00:00Z");
  assert.equal(created.startedAt, "0001-01-01T00:00:00Z");
  assert.equal(created.finishedAt, "0001-01-01T00:00:00Z");
  assert.deepEqual(created.mounts, [
    {
      containerPath: "/d",
      hostPath: "/h",
      readonly: false,
      selinuxRelabel: false,
      propagation: "PROPAGATION_PRIVATE",
    },
  ]);
  assert.equal(created.exitCode, 0);
  assert.equal(created.logPath, "/logs/web/0.log");
  const running = containerStatusJson({ ...base, state: ContainerState.CONTAINER_RUNNING }, 60) as Record<
    string,
    unknown
  >;
  assert.equal(running.startedAt, "2024-05-01T11:00:01.5+01:00");
  assert.equal(running.finishedAt, "0001-01-01T00:00:00Z");
  const exited = containerStatusJson({ ...base, state: ContainerState.CONTAINER_EXITED }, 0) as Record<
    string,
    unknown
  >;
  assert.equal(exited.finishedAt, "2024-05-01T10:00:03Z");
});

test("a pod's status: state and namespace modes by name, created time in RFC 3339", () => {
  const status = PodSandboxStatus.fromPartial({
    id: "p1",
    state: PodSandboxState.SANDBOX_READY,
    createdAt: NS,
    network: { ip: "10.0.0.2", additionalIps: [] },
    linux: { namespaces: { options: { network: NamespaceMode.NODE, pid: NamespaceMode.CONTAINER } } },
  });
  const json = podStatusJson(status, 0) as Record<string, unknown>;
  assert.equal(json.state, "SANDBOX_READY");
  assert.equal(json.createdAt, "2024-05-01T10:00:00Z");
  assert.deepEqual(json.network, { ip: "10.0.0.2", additionalIps: [] });
  assert.deepEqual(json.linux, {
    namespaces: { options: { network: "NODE", pid: "CONTAINER", ipc: "POD", targetId: "" } },
  });
});
