// CRI messages from berth-cri's records of sandboxes and containers.

import {
  ContainerState,
  type Container as CriContainer,
  type ContainerStatus as CriContainerStatus,
  LinuxContainerResources,
  NamespaceMode,
  type PodSandbox,
  PodSandboxState,
  type PodSandboxStatus,
} from "@berth/api/cri/runtime/v1/api";
import { type Container, type Sandbox, containerState } from "../store/stores.js";

export function sandboxState(s: Sandbox): PodSandboxState {
  return s.state === "ready" ? PodSandboxState.SANDBOX_READY : PodSandboxState.SANDBOX_NOTREADY;
}

export function toCriSandbox(s: Sandbox): PodSandbox {
  const cfg = s.meta.config;
  return {
    id: s.meta.id,
    metadata: cfg.metadata,
    state: sandboxState(s),
    createdAt: s.meta.createdAt,
    labels: cfg.labels,
    annotations: cfg.annotations,
    runtimeHandler: s.meta.runtimeHandler,
  };
}

export function toCriSandboxStatus(s: Sandbox): PodSandboxStatus {
  const cfg = s.meta.config;
  const ns = cfg.linux?.securityContext?.namespaceOptions;
  const ready = s.state === "ready";
  return {
    id: s.meta.id,
    metadata: cfg.metadata,
    state: sandboxState(s),
    createdAt: s.meta.createdAt,
    // Like containerd, no IP once the pod's network is torn down.
    network: {
      ip: ready ? s.meta.ip : "",
      additionalIps: ready ? s.meta.additionalIps.map((ip) => ({ ip })) : [],
    },
    linux: {
      namespaces: {
        options: {
          network: ns?.network ?? NamespaceMode.POD,
          pid: ns?.pid ?? NamespaceMode.POD,
          ipc: ns?.ipc ?? NamespaceMode.POD,
          targetId: ns?.targetId ?? "",
          usernsOptions: ns?.usernsOptions,
        },
      },
    },
    labels: cfg.labels,
    annotations: cfg.annotations,
    runtimeHandler: s.meta.runtimeHandler,
  };
}

export function criContainerState(c: Container): ContainerState {
  switch (containerState(c)) {
    case "created":
      return ContainerState.CONTAINER_CREATED;
    case "running":
      return ContainerState.CONTAINER_RUNNING;
    case "exited":
      return ContainerState.CONTAINER_EXITED;
    default:
      return ContainerState.CONTAINER_UNKNOWN;
  }
}

export function toCriContainer(c: Container): CriContainer {
  const cfg = c.meta.config;
  return {
    id: c.meta.id,
    podSandboxId: c.meta.sandboxId,
    metadata: cfg.metadata,
    image: cfg.image,
    imageRef: c.meta.imageRef,
    state: criContainerState(c),
    createdAt: c.meta.createdAt,
    labels: cfg.labels,
    annotations: cfg.annotations,
  };
}

/** The status kubelet reads; `image` and `imageRef` are the image's first repo tag and digest when known. */
export function toCriContainerStatus(
  c: Container,
  image: { spec: string; ref: string } | undefined,
): CriContainerStatus {
  const cfg = c.meta.config;
  const st = c.status;
  const state = criContainerState(c);
  let reason = st.reason;
  if (state === ContainerState.CONTAINER_EXITED && reason === "")
    reason = st.exitCode === 0 ? "Completed" : "Error";
  const started = state !== ContainerState.CONTAINER_CREATED;
  const finished = state === ContainerState.CONTAINER_EXITED || state === ContainerState.CONTAINER_UNKNOWN;
  return {
    id: c.meta.id,
    metadata: cfg.metadata,
    state,
    createdAt: c.meta.createdAt,
    startedAt: started ? st.startedAt : 0n,
    finishedAt: finished ? st.finishedAt : 0n,
    exitCode: st.exitCode,
    image: image !== undefined ? { image: image.spec, annotations: {} } : cfg.image,
    imageRef: image?.ref ?? c.meta.imageRef,
    reason,
    message: st.message,
    labels: cfg.labels,
    annotations: cfg.annotations,
    mounts: cfg.mounts,
    logPath: c.meta.logPath,
    // containerd reports the limits of every Linux container, zero when none were asked for.
    resources: { linux: st.resources ?? LinuxContainerResources.fromPartial({}), windows: undefined },
  };
}
