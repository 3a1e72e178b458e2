// CreateContainer: a writable snapshot of the image (under a lease until the record
// references it), the OCI spec built from the CRI config joined to the sandbox's
// namespaces, and the container record with berth-cri's metadata. No task yet: that is
// StartContainer's.

import { join } from "node:path";
import {
  ContainerEventType,
  type CreateContainerRequest,
  type CreateContainerResponse,
  type ContainerMetadata as CriContainerMetadata,
  NamespaceMode,
  type NamespaceOption,
  type PodSandboxConfig,
} from "@berth/api/cri/runtime/v1/api";
import { failedPrecondition, invalidArgument, isNotFound, notFound } from "@berth/client";
import { containerSpec } from "@berth/client/oci/index";
import { runtimeOf } from "../config.js";
import type { Cri } from "../cri.js";
import { imageConfigOf } from "../image/ensure-image.js";
import {
  CONTAINER_METADATA_EXT,
  CONTAINER_STATUS_EXT,
  type ContainerMetadata,
  KIND_CONTAINER,
  KIND_LABEL,
  emptyStatus,
  encodeContainerMetadata,
  encodeContainerStatus,
  nowNs,
} from "../store/records.js";
import { containerState, newContainer } from "../store/stores.js";
import {
  Cleanup,
  deleteContainerRecord,
  prepareSnapshot,
  removeSnapshot,
  specAny,
  withLease,
} from "./containerd-records.js";
import { newId } from "./run-pod-sandbox.js";
import { containerShimGroup } from "./shim-group.js";

/** kubelet's unique container name: `<container>_<pod>_<namespace>_<uid>_<attempt>`. */
export function containerName(c: CriContainerMetadata | undefined, pod: PodSandboxConfig): string {
  if (c === undefined || c.name === "") throw invalidArgument("container config must set metadata.name");
  const p = pod.metadata;
  return [c.name, p?.name ?? "", p?.namespace ?? "", p?.uid ?? "", String(c.attempt)].join("_");
}

/** The process whose PID namespace a TARGET-mode container joins (ephemeral debug containers). */
function targetProcess(cri: Cri, ns: NamespaceOption | undefined): number | undefined {
  if (ns?.pid !== NamespaceMode.TARGET) return undefined;
  const target = cri.containers.get(ns.targetId);
  if (containerState(target) !== "running" || target.status.pid <= 0) {
    throw failedPrecondition(
      `target container ${ns.targetId} is not running: its PID namespace cannot be joined`,
    );
  }
  return target.status.pid;
}

export function containerDir(root: string, id: string): string {
  return join(root, "containers", id);
}

export async function createContainer(
  cri: Cri,
  req: CreateContainerRequest,
  signal: AbortSignal,
): Promise<CreateContainerResponse> {
  const config = req.config;
  if (config === undefined) throw invalidArgument("container config must not be empty");
  const sandbox = cri.sandboxes.get(req.podSandboxId);
  if (sandbox.state !== "ready" || sandbox.pid <= 0) {
    throw failedPrecondition(`sandbox ${sandbox.meta.id} is not ready: its containers cannot be created`);
  }
  // A pod's containers run on its handler's runtime.
  const runtime = runtimeOf(cri.config, sandbox.meta.runtimeHandler);
  if (runtime === undefined) {
    throw failedPrecondition(
      `no runtime for "${sandbox.meta.runtimeHandler}" (sandbox ${sandbox.meta.id}'s handler) is configured any more: add it under containerd.runtimes in berth-cri's config`,
    );
  }
  const sandboxConfig = sandbox.meta.config;
  const name = containerName(config.metadata, sandboxConfig);
  const imageRef = config.image?.image ?? "";
  if (imageRef === "") throw invalidArgument("container config must name an image");
  const id = newId();
  cri.names.reserve(name, id);
  const cleanup = new Cleanup(cri);
  cleanup.add("release name", async () => cri.names.release(name));
  try {
    let image: Awaited<ReturnType<typeof cri.images.resolve>>;
    try {
      image = await cri.images.resolve(imageRef, signal);
    } catch (err) {
      if (isNotFound(err)) throw notFound(`image "${imageRef}" is not present: pull it first`);
      throw err;
    }
    const logPath =
      config.logPath !== "" && sandboxConfig.logDirectory !== ""
        ? join(sandboxConfig.logDirectory, config.logPath)
        : "";
    const meta: ContainerMetadata = {
      id,
      name,
      sandboxId: sandbox.meta.id,
      config,
      imageRef: image.id,
      imageName: imageRef,
      logPath,
      createdAt: nowNs(),
      stopSignal: image.spec.config?.StopSignal ?? "",
      snapshotKey: id,
    };
    const targetPid = targetProcess(cri, config.linux?.securityContext?.namespaceOptions);
    const status = emptyStatus();
    status.resources = config.linux?.resources;

    const shimGroup = await containerShimGroup(cri, id, sandbox.meta.id);

    await withLease(cri, async (lease) => {
      await prepareSnapshot(cri, lease, id, image.chainId);
      cleanup.add("remove snapshot", () => removeSnapshot(cri, id));
      const users = await cri.imageUsers(image.chainId, lease);
      const spec = containerSpec({
        id,
        sandboxId: sandbox.meta.id,
        config,
        sandboxConfig,
        imageConfig: imageConfigOf(image.spec),
        sandboxPid: sandbox.pid,
        ...(targetPid !== undefined ? { targetPid } : {}),
        netnsPath: sandbox.meta.netnsPath,
        hostsPath: sandbox.meta.hostsPath,
        resolvConfPath: sandbox.meta.resolvConfPath,
        hostnamePath: sandbox.meta.hostnamePath,
        shmPath: sandbox.meta.shmPath,
        imageName: imageRef,
        volumesDir: join(containerDir(cri.config.root, id), "volumes"),
        passwdLookup: users.passwd,
        groupLookup: users.group,
      });
      spec.annotations = { ...spec.annotations, ...shimGroup };
      await cri.containerd.containers.create({
        container: {
          id,
          labels: { ...config.labels, [KIND_LABEL]: KIND_CONTAINER },
          image: image.references.find((r) => !r.startsWith("sha256:")) ?? image.id,
          runtime: { name: runtime, options: undefined },
          spec: specAny(spec),
          snapshotter: cri.config.containerd.snapshotter,
          snapshotKey: id,
          createdAt: undefined,
          updatedAt: undefined,
          extensions: {
            [CONTAINER_METADATA_EXT]: encodeContainerMetadata(meta),
            [CONTAINER_STATUS_EXT]: encodeContainerStatus(status),
          },
        },
      });
      cleanup.add("delete container record", () => deleteContainerRecord(cri, id));
    });
    cri.containers.add(newContainer(meta, status));
    cleanup.clear();
    cri.publishContainerEvent(id, ContainerEventType.CONTAINER_CREATED_EVENT);
    cri.log.info("container created", { id, name, sandbox: sandbox.meta.id, image: image.id });
    return { containerId: id };
  } catch (err) {
    await cleanup.run();
    throw err;
  }
}
