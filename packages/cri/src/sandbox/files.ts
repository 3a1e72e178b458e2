// The files a pod's containers share: /etc/hostname, /etc/hosts and /etc/resolv.conf under
// berth-cri's root, and a tmpfs for /dev/shm under its state dir (none for host IPC).

import { copyFile, mkdir, rm, writeFile } from "node:fs/promises";
import { hostname as osHostname } from "node:os";
import { join } from "node:path";
import { type DNSConfig, NamespaceMode, type PodSandboxConfig } from "@berth/api/cri/runtime/v1/api";
import { BerthError, errorMessage } from "@berth/client";
import { MS_NODEV, MS_NOEXEC, MS_NOSUID, mount, unmount } from "../sys/libc.js";

export interface SandboxFiles {
  hostnamePath: string;
  hostsPath: string;
  resolvConfPath: string;
  /** "" with host IPC: containers use the host's /dev/shm. */
  shmPath: string;
}

/** The pod files RunPodSandbox sets up and Stop/RemovePodSandbox take down (nodePodFiles on the node). */
export interface PodFiles {
  setUp(id: string, config: PodSandboxConfig): Promise<SandboxFiles>;
  /** Unmounts the pod's /dev/shm (at stop: nothing may use it any more). */
  unmountShm(files: Pick<SandboxFiles, "shmPath">): Promise<void>;
  remove(id: string, shmPath: string): Promise<void>;
}

export function nodePodFiles(root: string, state: string): PodFiles {
  return {
    setUp: (id, config) => setUpSandboxFiles(root, state, id, config),
    unmountShm: (files) => unmountSandboxShm(files),
    remove: (id, shmPath) => removeSandboxFiles(root, state, id, shmPath),
  };
}

const SHM_SIZE = "65536k";

export function sandboxRootDir(root: string, id: string): string {
  return join(root, "sandboxes", id);
}

export function sandboxStateDir(state: string, id: string): string {
  return join(state, "sandboxes", id);
}

/** resolv.conf text for a pod's DNS config (kubelet fills it from the cluster's DNS settings). */
export function resolvConf(dns: DNSConfig): string {
  let out = "";
  if (dns.searches.length > 0) out += `search ${dns.searches.join(" ")}\n`;
  for (const s of dns.servers) out += `nameserver ${s}\n`;
  if (dns.options.length > 0) out += `options ${dns.options.join(" ")}\n`;
  return out;
}

export async function setUpSandboxFiles(
  root: string,
  state: string,
  id: string,
  config: PodSandboxConfig,
): Promise<SandboxFiles> {
  const dir = sandboxRootDir(root, id);
  await mkdir(dir, { recursive: true, mode: 0o755 });
  const files: SandboxFiles = {
    hostnamePath: join(dir, "hostname"),
    hostsPath: join(dir, "hosts"),
    resolvConfPath: join(dir, "resolv.conf"),
    shmPath: "",
  };
  await writeFile(files.hostnamePath, `${config.hostname || osHostname()}\n`, { mode: 0o644 });
  await copyFile("/etc/hosts", files.hostsPath).catch(() =>
    writeFile(files.hostsPath, "127.0.0.1\tlocalhost\n"),
  );
  const dns = config.dnsConfig;
  if (dns !== undefined && (dns.servers.length > 0 || dns.searches.length > 0 || dns.options.length > 0)) {
    await writeFile(files.resolvConfPath, resolvConf(dns), { mode: 0o644 });
  } else {
    await copyFile("/etc/resolv.conf", files.resolvConfPath).catch(() => writeFile(files.resolvConfPath, ""));
  }
  const hostIpc = config.linux?.securityContext?.namespaceOptions?.ipc === NamespaceMode.NODE;
  if (!hostIpc) {
    const shm = join(sandboxStateDir(state, id), "shm");
    await mkdir(shm, { recursive: true, mode: 0o700 });
    try {
      await mount("shm", shm, "tmpfs", MS_NODEV | MS_NOEXEC | MS_NOSUID, `mode=1777,size=${SHM_SIZE}`);
    } catch (err) {
      throw new BerthError(
        "Unknown",
        `cannot mount /dev/shm of sandbox ${id} on ${shm}: ${errorMessage(err)}`,
      );
    }
    files.shmPath = shm;
  }
  return files;
}

/** Unmounts the pod's /dev/shm (at stop: nothing may use it any more). */
export async function unmountSandboxShm(files: Pick<SandboxFiles, "shmPath">): Promise<void> {
  if (files.shmPath !== "") await unmount(files.shmPath);
}

export async function removeSandboxFiles(
  root: string,
  state: string,
  id: string,
  shmPath: string,
): Promise<void> {
  if (shmPath !== "") await unmount(shmPath);
  await rm(sandboxStateDir(state, id), { recursive: true, force: true });
  await rm(sandboxRootDir(root, id), { recursive: true, force: true });
}
