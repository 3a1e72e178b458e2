import assert from "node:assert/strict";
import { test } from "node:test";
import type { Container } from "@berth/api/containerd/services/containers/v1/containers";
import { ContainerConfig, PodSandboxConfig } from "@berth/api/cri/runtime/v1/api";
import {
  CONTAINER_METADATA_EXT,
  CONTAINER_STATUS_EXT,
  SANDBOX_METADATA_EXT,
  type SandboxMetadata,
  decodeContainerMetadata,
  decodeContainerStatus,
  decodeSandboxMetadata,
  emptyStatus,
  encodeContainerMetadata,
  encodeContainerStatus,
  encodeSandboxMetadata,
} from "./records.js";

function record(extensions: Container["extensions"]): Container {
  return {
    id: "x",
    labels: {},
    image: "",
    runtime: undefined,
    spec: undefined,
    snapshotter: "",
    snapshotKey: "x",
    createdAt: undefined,
    updatedAt: undefined,
    extensions,
  };
}

test("sandbox metadata survives the daemon: config, times, network", () => {
  const meta: SandboxMetadata = {
    id: "x",
    name: "web_ns_uid_0",
    config: PodSandboxConfig.fromPartial({
      metadata: { name: "web", namespace: "ns", uid: "uid", attempt: 0 },
      linux: { resources: { memoryLimitInBytes: 1n << 62n } },
      labels: { a: "b" },
    }),
    runtimeHandler: "",
    createdAt: 1_795_000_000_123_456_789n,
    netnsPath: "/run/berth-cri/netns/x",
    ip: "10.88.0.2",
    additionalIps: ["fd00::2"],
    network: {
      config: {
        file: "/etc/cni/net.d/10.conflist",
        name: "n",
        cniVersion: "1.0.0",
        plugins: [{ type: "bridge" }],
      },
      result: { ips: [] },
      portMappings: [{ hostPort: 80, containerPort: 8080, protocol: "tcp", hostIP: "" }],
    },
    hostnamePath: "/h",
    hostsPath: "/hs",
    resolvConfPath: "/r",
    shmPath: "/s",
    imageId: "sha256:x",
  };
  assert.deepEqual(
    decodeSandboxMetadata(record({ [SANDBOX_METADATA_EXT]: encodeSandboxMetadata(meta) })),
    meta,
  );
  assert.equal(decodeSandboxMetadata(record({})), undefined);
});

test("container metadata and status survive the daemon", () => {
  const meta = {
    id: "x",
    name: "c_web_ns_uid_0",
    sandboxId: "s",
    config: ContainerConfig.fromPartial({ metadata: { name: "c" }, command: ["sh"], labels: { k: "v" } }),
    imageRef: "sha256:i",
    imageName: "busybox",
    logPath: "/logs/c/0.log",
    createdAt: 5n,
    stopSignal: "SIGQUIT",
    snapshotKey: "x",
  };
  const status = { ...emptyStatus(), pid: 7, startedAt: 1_795_000_000_000_000_001n, oomKilled: true };
  const c = record({
    [CONTAINER_METADATA_EXT]: encodeContainerMetadata(meta),
    [CONTAINER_STATUS_EXT]: encodeContainerStatus(status),
  });
  assert.deepEqual(decodeContainerMetadata(c), meta);
  assert.deepEqual(decodeContainerStatus(c), status);
  assert.deepEqual(decodeContainerStatus(record({})), emptyStatus());
});
