// RunPodSandbox: a pinned network namespace set up by CNI, the pod's shared files, then
// the pause container and its task in the daemon. Everything berth-cri needs to find the
// pod again (config, namespace path, CNI result, file paths) is stored with the pause
// container record. A failure undoes every step taken.

import { randomBytes } from "node:crypto";
import {
  NamespaceMode,
  type PodSandboxConfig,
  Protocol,
  type RunPodSandboxRequest,
  type RunPodSandboxResponse,
} from "@berth/api/cri/runtime/v1/api";
import { invalidArgument } from "@berth/client";
import { sandboxSpec } from "@berth/client/oci/index";
import { runtimeOf } from "../config.js";
import type { Cri } from "../cri.js";
import { ensureImage, imageConfigOf } from "../image/ensure-image.js";
import { type CniAttachment, type PortMapping, resultIps } from "../network/cni.js";
import {
  KIND_LABEL,
  KIND_SANDBOX,
  SANDBOX_METADATA_EXT,
  type SandboxMetadata,
  encodeSandboxMetadata,
  nowNs,
} from "../store/records.js";
import type { Sandbox } from "../store/stores.js";
import {
  Cleanup,
  deleteContainerRecord,
  prepareSnapshot,
  removeSnapshot,
  snapshotMounts,
  specAny,
  withLease,
} from "./containerd-records.js";
import { sandboxShimGroup } from "./shim-group.js";
import { deleteTask } from "./task.js";

export const POD_IFNAME = "eth0";

/** The pid of a sandbox whose pause task is being started (an exit sets 0). */
const STARTING_PID = -1;

export function newId(): string {
  return randomBytes(32).toString("hex");
}

/** kubelet's unique sandbox name: `<name>_<namespace>_<uid>_<attempt>`. */
export function sandboxName(config: PodSandboxConfig): string {
  const m = config.metadata;
  if (m === undefined || m.name === "" || m.namespace === "" || m.uid === "") {
    throw invalidArgument("sandbox config must set metadata name, namespace and uid");
  }
  return [m.name, m.namespace, m.uid, String(m.attempt)].join("_");
}

export function cniAttachment(
  id: string,
  netns: string,
  config: PodSandboxConfig,
  ports: PortMapping[],
): CniAttachment {
  const m = config.metadata;
  return {
    containerId: id,
    netns,
    ifName: POD_IFNAME,
    args: {
      IgnoreUnknown: "1",
      K8S_POD_NAMESPACE: m?.namespace ?? "",
      K8S_POD_NAME: m?.name ?? "",
      K8S_POD_INFRA_CONTAINER_ID: id,
      K8S_POD_UID: m?.uid ?? "",
    },
    capabilities: { portMappings: ports },
  };
}

function portMappings(config: PodSandboxConfig): PortMapping[] {
  const protocols: Record<number, PortMapping["protocol"]> = {
    [Protocol.TCP]: "tcp",
    [Protocol.UDP]: "udp",
    [Protocol.SCTP]: "sctp",
  };
  return config.portMappings
    .filter((p) => p.hostPort > 0)
    .map((p) => ({
      hostPort: p.hostPort,
      containerPort: p.containerPort,
      protocol: protocols[p.protocol] ?? "tcp",
      hostIP: p.hostIp,
    }));
}

export async function runPodSandbox(
  cri: Cri,
  req: RunPodSandboxRequest,
  signal: AbortSignal,
): Promise<RunPodSandboxResponse> {
  const config = req.config;
  if (config === undefined) throw invalidArgument("sandbox config must not be empty");
  const runtime = runtimeOf(cri.config, req.runtimeHandler);
  if (runtime === undefined) {
    const known = Object.keys(cri.config.containerd.runtimes).map((h) => JSON.stringify(h));
    throw invalidArgument(
      `no runtime for "${req.runtimeHandler}" is configured: add it under containerd.runtimes in berth-cri's config (configured: "" (the default), ${known.join(", ")})`,
    );
  }
  const name = sandboxName(config);
  const id = newId();
  cri.names.reserve(name, id);
  const cleanup = new Cleanup(cri);
  cleanup.add("release name", async () => cri.names.release(name));
  try {
    const image = await ensureImage(cri, cri.config.sandboxImage, signal);
    const hostNetwork = config.linux?.securityContext?.namespaceOptions?.network === NamespaceMode.NODE;

    const meta: SandboxMetadata = {
      id,
      name,
      config,
      runtimeHandler: req.runtimeHandler,
      createdAt: nowNs(),
      netnsPath: "",
      ip: "",
      additionalIps: [],
      network: undefined,
      hostnamePath: "",
      hostsPath: "",
      resolvConfPath: "",
      shmPath: "",
      imageId: image.id,
    };

    if (!hostNetwork) {
      const netConfig = await cri.cni.currentConfig();
      meta.netnsPath = await cri.netns.create(id);
      cleanup.add("remove network namespace", () => cri.netns.remove(meta.netnsPath));
      const ports = portMappings(config);
      const attachment = cniAttachment(id, meta.netnsPath, config, ports);
      cleanup.add("CNI DEL", () => cri.cni.del(netConfig, attachment, undefined));
      const result = await cri.cni.add(netConfig, attachment);
      cleanup.add("CNI DEL", () => cri.cni.del(netConfig, attachment, result));
      const ips = resultIps(result, POD_IFNAME);
      meta.ip = ips[0] ?? "";
      meta.additionalIps = ips.slice(1);
      meta.network = { config: netConfig, result, portMappings: ports };
    }

    const files = await cri.podFiles.setUp(id, config);
    cleanup.add("remove sandbox files", () => cri.podFiles.remove(id, files.shmPath));
    Object.assign(meta, files);

    const shimGroup = await sandboxShimGroup(cri, id);
    cleanup.add("release shim pool", async () => shimGroup.settle(false));

    await withLease(cri, async (lease) => {
      await prepareSnapshot(cri, lease, id, image.chainId);
      cleanup.add("remove snapshot", () => removeSnapshot(cri, id));
      const users = await cri.imageUsers(image.chainId, lease);
      const spec = sandboxSpec({
        id,
        config,
        imageConfig: imageConfigOf(image.spec),
        netnsPath: meta.netnsPath,
        resolvConfPath: files.resolvConfPath,
        hostnamePath: files.hostnamePath,
        hostsPath: files.hostsPath,
        shmPath: files.shmPath,
        passwdLookup: users.passwd,
        groupLookup: users.group,
      });
      spec.annotations = { ...spec.annotations, ...shimGroup.annotations };
      await cri.containerd.containers.create({
        container: {
          id,
          labels: { ...config.labels, ...shimGroup.labels, [KIND_LABEL]: KIND_SANDBOX },
          image: image.references.find((r) => !r.startsWith("sha256:")) ?? image.id,
          runtime: { name: runtime, options: undefined },
          spec: specAny(spec),
          snapshotter: cri.config.containerd.snapshotter,
          snapshotKey: id,
          createdAt: undefined,
          updatedAt: undefined,
          extensions: { [SANDBOX_METADATA_EXT]: encodeSandboxMetadata(meta) },
        },
      });
      cleanup.add("delete container record", () => deleteContainerRecord(cri, id));
    });

    // In the store before the task exists, so that an exit event right after start finds it.
    const sandbox: Sandbox = { meta, state: "notready", pid: STARTING_PID };
    cri.sandboxes.add(sandbox);
    cleanup.add("forget sandbox", async () => cri.sandboxes.delete(id));
    const rootfs = await snapshotMounts(cri, id);
    const created = await shimGroup.createTask(() =>
      cri.containerd.tasks.create({
        containerId: id,
        rootfs,
        stdin: "",
        stdout: "",
        stderr: "",
        terminal: false,
      }),
    );
    cleanup.add("delete task", () => deleteTask(cri, id));
    await cri.containerd.tasks.start({ containerId: id, execId: "" });
    if (sandbox.pid === STARTING_PID) {
      sandbox.state = "ready";
      sandbox.pid = created.pid;
    }
    cleanup.clear();
    shimGroup.settle(true);
    cri.log.info("sandbox running", {
      id,
      name,
      ip: meta.ip,
      pid: created.pid,
      shimGroup: shimGroup.group || id,
    });
    return { podSandboxId: id };
  } catch (err) {
    await cleanup.run();
    throw err;
  }
}
