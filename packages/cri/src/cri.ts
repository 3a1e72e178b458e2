// Everything a CRI call works with: the config, the daemon, berth-cri's caches of
// sandboxes, containers and images, networking, and the events it publishes. Each call's
// file under image/ and runtime/ takes this and its request.

import { ContainerEventType } from "@berth/api/cri/runtime/v1/api";
import { Resolver } from "@berth/client";
import type { Logger } from "@berth/client/log";
import type { CriConfig } from "./config.js";
import type { Containerd } from "./containerd.js";
import { ContainerEvents } from "./events/container-events.js";
import { ImageFsUsage } from "./image/image-fs-info.js";
import { ImageStore } from "./image/image-store.js";
import { criCredentialsHint } from "./image/pull-image.js";
import { CniNetwork } from "./network/cni.js";
import { NetnsManager } from "./network/netns.js";
import { toCriContainerStatus, toCriSandboxStatus } from "./runtime/convert.js";
import { KeyedLock } from "./store/keyed-lock.js";
import { NameIndex } from "./store/name-index.js";
import { CONTAINER_STATUS_EXT, encodeContainerStatus, nowNs } from "./store/records.js";
import { type Container, ContainerStore, SandboxStore } from "./store/stores.js";

export class Cri {
  readonly config: CriConfig;
  readonly containerd: Containerd;
  readonly log: Logger;
  readonly images: ImageStore;
  readonly imageFs: ImageFsUsage;
  /** Anonymous registry access, shared so bearer tokens are reused between pulls. */
  readonly resolver: Resolver;
  readonly sandboxes = new SandboxStore();
  readonly containers = new ContainerStore();
  readonly names = new NameIndex();
  readonly locks = new KeyedLock();
  /** Status writes of one container go in order, each writing the latest status. */
  readonly #statusWrites = new KeyedLock();
  readonly netns: NetnsManager;
  readonly cni: CniNetwork;
  readonly events = new ContainerEvents();
  /** The pod CIDR kubelet last sent (UpdateRuntimeConfig). */
  podCidr = "";

  constructor(config: CriConfig, containerd: Containerd, log: Logger) {
    this.config = config;
    this.containerd = containerd;
    this.log = log;
    this.images = new ImageStore(containerd.conn);
    this.imageFs = new ImageFsUsage(containerd, config.containerd.snapshotter);
    this.resolver = new Resolver({ hosts: config.registry, credentialsHint: criCredentialsHint });
    this.netns = new NetnsManager(config.state);
    this.cni = new CniNetwork(config.cni.binDir, config.cni.confDir);
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
