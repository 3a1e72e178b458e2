// ImageFsInfo: bytes and inodes used by the snapshotter's snapshots, under the
// snapshotter's root as the daemon's introspection reports it. Usage walks directories,
// so it is gathered at most once every few seconds.
import type { FilesystemUsage, ImageFsInfoRequest, ImageFsInfoResponse } from "@berth/api/cri/runtime/v1/api";
import { isNotFound } from "@berth/client";
import type { Containerd } from "../containerd.js";
import type { Cri } from "../cri.js";

const REFRESH_MS = 5_000;

export class ImageFsUsage {
  readonly #containerd: Containerd;
  readonly #snapshotter: string;
  #cached: { at: number; usage: FilesystemUsage } | undefined;
  #running: Promise<FilesystemUsage> | undefined;
  #mountpoint: string | undefined;

  constructor(containerd: Containerd, snapshotter: string) {
    this.#containerd = containerd;
    this.#snapshotter = snapshotter;
  }

  async get(): Promise<FilesystemUsage> {
    const c = this.#cached;
    if (c !== undefined && Date.now() - c.at < REFRESH_MS) return c.usage;
    this.#running ??= this.#gather().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  async #gather(): Promise<FilesystemUsage> {
    const daemon = this.#containerd;
    this.#mountpoint ??= await this.#root();
    const snapshotter = this.#snapshotter;
    let usedBytes = 0;
    let inodesUsed = 0;
    const infos = [];
    for await (const res of daemon.snapshots.list({ snapshotter, filters: [] })) infos.push(...res.info);
    for (const info of infos) {
      try {
        const u = await daemon.snapshots.usage({ snapshotter, key: info.name });
        usedBytes += u.size;
        inodesUsed += u.inodes;
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
    const usage: FilesystemUsage = {
      timestamp: BigInt(Date.now()) * 1_000_000n,
      fsId: { mountpoint: this.#mountpoint },
      usedBytes: { value: BigInt(usedBytes) },
      inodesUsed: { value: BigInt(inodesUsed) },
    };
    this.#cached = { at: Date.now(), usage };
    return usage;
  }

  async #root(): Promise<string> {
    const res = await this.#containerd.introspection.plugins({
      filters: [`type==io.containerd.snapshotter.v1,id==${this.#snapshotter}`],
    });
    return res.plugins[0]?.exports.root ?? "";
  }
}

export async function imageFsInfo(cri: Cri, _req: ImageFsInfoRequest): Promise<ImageFsInfoResponse> {
  return { imageFilesystems: [await cri.imageFs.get()] };
}
