// Everything a CRI call works with: the config, the daemon, berth-cri's caches of
// sandboxes, containers and images, networking, the pod files on the node, and the events
// it publishes. Each call's file under image/ and runtime/ takes this and its request.
// What reaches outside berth-cri comes in through CriDeps: nodeCriDeps() for the daemon,
// testing/fakes.ts for unit tests.

import { ContainerEventType } from "@berth/api/cri/runtime/v1/api";
import { Resolver } from "@berth/client";
import type { Logger } from "@berth/client/log";
import type { CriConfig } from "./config.js";
import type { Containerd, ContainerdConnection } from "./containerd.js";
import { ContainerEvents } from "./events/container-events.js";
import { ImageFsUsage } from "./image/image-fs-info.js";
import { ImageStore } from "./image/image-store.js";
import { criCredentialsHint } from "./image/pull-image.js";
import { CniNetwork } from "./network/cni.js";
import { NetnsManager } from "./network/netns.js";
import { type ImageUsers, imageUserDatabase } from "./rootfs/user-database.js";
import { toCriContainerStatus, toCriSandboxStatus } from "./runtime/convert.js";
import { type PodFiles, nodePodFiles } from "./sandbox/files.js";
import { KeyedLock } from "./store/keyed-lock.js";
import { NameIndex } from "./store/name-index.js";
import { CONTAINER_STATUS_EXT, encodeContainerStatus, nowNs } from "./store/records.js";
import { type Container, ContainerStore, SandboxStore } from "./store/stores.js";

/** The daemon's images as CRI names them (image/image-store.ts). */
export type CriImages = Pick<ImageStore, "resolve" | "list" | "describeRecord" | "invalidate">;
/** CNI: the pods' network set up and torn down (network/cni.ts). */
export type PodNetwork = Pick<CniNetwork, "status" | "currentConfig" | "add" | "del">;
/** Pinned network namespaces (network/netns.ts). */
export type NetnsStore = Pick<NetnsManager, "create" | "remove" | "exists">;

/** What berth-cri works through: the daemon, its images, CNI, namespaces and files on the node. */
export interface CriDeps {
  config: CriConfig;
  log: Logger;
  containerd: Containerd;
  images: CriImages;
  cni: PodNetwork;
  netns: NetnsStore;
  podFiles: PodFiles;
  imageUsers: ImageUsers;
}

/** The dependencies of the berth-cri daemon: the real daemon connection, CNI plugins, mounts. */
export function nodeCriDeps(config: CriConfig, containerd: ContainerdConnection, log: Logger): CriDeps {
  return {
    config,
    log,
    containerd,
    images: new ImageStore(containerd.conn),
    cni: new CniNetwork(config.cni.binDir, config.cni.confDir),
    netns: new NetnsManager(config.state),
    podFiles: nodePodFiles(config.root, config.state),
    imageUsers: (chainId, lease) => imageUserDatabase({ config, containerd }, chainId, lease),
  };
}

export class Cri {
  readonly config: CriConfig;
  readonly containerd: Containerd;
  readonly log: Logger;
  readonly images: CriImages;
  readonly imageFs: ImageFsUsage;
  /** Anonymous registry access, shared so bearer tokens are reused between pulls. */
  readonly resolver: Resolver;
  readonly sandboxes = new SandboxStore();
  readonly containers = new ContainerStore();
  readonly names = new NameIndex();
  readonly locks = new KeyedLock();
  /** Status writes of one container go in order, each writing the latest status. */
  readonly #statusWrites = new KeyedLock();
  readonly netns: NetnsStore;
  readonly cni: PodNetwork;
  readonly podFiles: PodFiles;
  readonly imageUsers: ImageUsers;
  readonly events = new ContainerEvents();
  /** The pod CIDR kubelet last sent (UpdateRuntimeConfig). */
  podCidr = "";

  constructor(deps: CriDeps) {
    const { config, containerd } = deps;
    this.config = config;
    this.containerd = containerd;
    this.log = deps.log;
    this.images = deps.images;
    this.imageFs = new ImageFsUsage(containerd, config.containerd.snapshotter);
    this.resolver = new Resolver({ hosts: config.registry, credentialsHint: criCredentialsHint });
    this.netns = deps.netns;
    this.cni = deps.cni;
    this.podFiles = deps.podFiles;
    this.imageUsers = deps.imageUsers;
  }

  /** Writes a container's status to the daemon (the cache is updated by the caller first). */
  persistStatus(c: Container): Promise<void> {
    return this.#statusWrites.run(c.meta.id, async () => {
      await this.containerd.containers.update({
        container: {
          id: c.meta.id,
          extensions: { [CONTAINER_STATUS_EXT]: encodeContainerStatus(c.status) },
        },
        updateMask: [`extensions.${CONTAINER_STATUS_EXT}`],
      });
    });
  }

  /** Tells GetContainerEvents subscribers, with the pod's status and its containers' as kubelet's evented PLEG reads them. */
  publishContainerEvent(containerId: string, type: ContainerEventType): void {
    if (this.events.subscribers === 0) return;
    const c = this.containers.find(containerId);
    const s = c === undefined ? undefined : this.sandboxes.find(c.meta.sandboxId);
    this.events.publish({
      containerId,
      containerEventType: type,
      createdAt: nowNs(),
      podSandboxStatus: s === undefined ? undefined : toCriSandboxStatus(s),
      containersStatuses:
        s === undefined
          ? []
          : this.containers.ofSandbox(s.meta.id).map((x) => toCriContainerStatus(x, undefined)),
    });
  }
}

export { ContainerEventType };
