// In-memory stand-ins for what berth-cri reaches outside itself (CriDeps), for unit tests
// of the CRI calls. They hold state and record calls; they do not reimplement containerd:
// a task runs until a test ends it (exit) or a signal in its `exitOn` set reaches it, and
// the output a test writes goes through the real FIFOs berth-cri made.

import { type FileHandle, open } from "node:fs/promises";
import { Metrics as CgroupV1Metrics } from "@berth/api/cgroups/stats/v1/metrics";
import {
  Container as ContainerRecord,
  type ContainersClient,
} from "@berth/api/containerd/services/containers/v1/containers";
import type { Image, ImagesClient } from "@berth/api/containerd/services/images/v1/images";
import type { SnapshotsClient } from "@berth/api/containerd/services/snapshots/v1/snapshots";
import type { TasksClient } from "@berth/api/containerd/services/tasks/v1/tasks";
import type { Mount } from "@berth/api/containerd/types/mount";
import { Status as TaskStatus } from "@berth/api/containerd/types/task/task";
import type { PodSandboxConfig } from "@berth/api/cri/runtime/v1/api";
import { type PullOptions, alreadyExists, formatReference, notFound, parseReference } from "@berth/client";
import { userDatabase } from "@berth/client/oci/index";
import type { Containerd, DaemonSnapshots } from "../containerd.js";
import type { CriImages, NetnsStore, PodNetwork } from "../cri.js";
import type { CriImage, ImageSpec } from "../image/image-store.js";
import type { CniAttachment, CniConfigList, CniStatus } from "../network/cni.js";
import type { ImageUsers } from "../rootfs/user-database.js";
import type { PodFiles, SandboxFiles } from "../sandbox/files.js";
import type { StreamingRequest, StreamingServer } from "../streaming/server.js";

type Req<C, K extends keyof C> = C[K] extends (req: infer R, ...rest: never[]) => unknown ? R : never;
type WaitOptions = { signal?: AbortSignal } | undefined;

/** A process of a fake task: the init process (execId "") or an exec. */
export interface FakeProcess {
  containerId: string;
  execId: string;
  pid: number;
  status: TaskStatus;
  exitStatus: number;
  exitedAt: Date | undefined;
  stdio: { stdin: string; stdout: string; stderr: string; terminal: boolean };
  /** An exec's OCI process spec, as berth-cri sent it. */
  spec: Record<string, unknown> | undefined;
  /** Signals that end it (exit 128 + signal); others are recorded and ignored. */
  exitOn: Set<number>;
  writers: FileHandle[];
  waiters: Array<() => void>;
}

export interface FakeTask {
  init: FakeProcess;
  execs: Map<string, FakeProcess>;
}

const NEVER_EXITS = new Set<number>();

export class FakeDaemon implements Containerd {
  readonly address = "/run/fake/daemon.sock";
  readonly namespace = "k8s.io";
  /** Every call, as `<service>.<method> <id>`, in order. */
  readonly calls: string[] = [];
  readonly records = new Map<string, ContainerRecord>();
  readonly taskTable = new Map<string, FakeTask>();
  readonly snapshotTable = new Map<string, { parent: string; lease: string; view: boolean }>();
  readonly leaseIds = new Set<string>();
  readonly imageRecords = new Map<string, Image>();
  /** What Metrics reports of each task (cgroup v1, as runc's shim does). */
  readonly metricsTable = new Map<string, CgroupV1Metrics>();
  /** Requests of the calls that carry data tests look at. */
  readonly requests: Array<{ call: string; request: unknown }> = [];
  /** Errors the next call of a method fails with (`tasks.start` → error). */
  readonly failures = new Map<string, Error>();
  /** What a pull finds (undefined: the fake registry has no such image). */
  onPull: (name: string, options: PullOptions) => Image | undefined = () => undefined;
  /** Runs when an exec process starts (write its output with `write`, end it with `exit`). */
  onExecStart: (p: FakeProcess) => void | Promise<void> = () => undefined;
  /** Fails Version (the daemon is away) when set. */
  down: Error | undefined;
  /** Above any pid a test machine hands out, so no /proc/<pid> of a real process is read. */
  #nextPid = 4_194_000;

  #call(call: string, request: unknown): void {
    this.calls.push(call);
    this.requests.push({ call: call.split(" ")[0] ?? call, request });
    const failure = this.failures.get(call.split(" ")[0] ?? call);
    if (failure !== undefined) {
      this.failures.delete(call.split(" ")[0] ?? call);
      throw failure;
    }
  }

  /** The requests made to `call` (`tasks.update`…), oldest first. */
  requestsOf<T = unknown>(call: string): T[] {
    return this.requests.filter((r) => r.call === call).map((r) => r.request as T);
  }

  task(id: string): FakeTask {
    const t = this.taskTable.get(id);
    if (t === undefined) throw notFound(`task ${id} not found`);
    return t;
  }

  process(containerId: string, execId = ""): FakeProcess {
    const t = this.task(containerId);
    const p = execId === "" ? t.init : t.execs.get(execId);
    if (p === undefined) throw notFound(`process ${execId} of ${containerId} not found`);
    return p;
  }

  /** Execs from now on write `stdout` and `stderr`, then exit with `exitCode`. */
  execsWrite(stdout: string, stderr: string, exitCode: number): void {
    this.onExecStart = async (p) => {
      await this.write(p, "stdout", stdout);
      await this.write(p, "stderr", stderr);
      await this.exit(p, exitCode);
    };
  }

  /** Writes to a running process's stdout or stderr FIFO. */
  async write(p: FakeProcess, stream: "stdout" | "stderr", data: string): Promise<void> {
    const path = p.stdio[stream];
    const w = p.writers[stream === "stdout" ? 0 : 1];
    if (w === undefined)
      throw new Error(`process ${p.execId || p.containerId} has no ${stream} FIFO (${path})`);
    await w.write(data);
  }

  /** Ends a process with `code`: its FIFO writers close and its waiters return. */
  async exit(p: FakeProcess, code: number): Promise<void> {
    if (p.status === TaskStatus.STOPPED) return;
    p.status = TaskStatus.STOPPED;
    p.exitStatus = code;
    p.exitedAt = new Date();
    p.pid = 0;
    for (const w of p.writers.splice(0)) await w.close();
    for (const wake of p.waiters.splice(0)) wake();
  }

  /** Adds a daemon record directly (records berth-cri did not make, as after a restart). */
  addRecord(partial: Parameters<typeof ContainerRecord.fromPartial>[0]): ContainerRecord {
    const r = ContainerRecord.fromPartial({ createdAt: new Date(), ...partial });
    this.records.set(r.id, r);
    return r;
  }

  readonly containers: Pick<ContainersClient, "get" | "list" | "create" | "update" | "delete"> = {
    get: async (req) => {
      this.#call(`containers.get ${req.id}`, req);
      const container = this.records.get(req.id ?? "");
      if (container === undefined) throw notFound(`container "${req.id}" not found`);
      return { container };
    },
    list: async (req) => {
      this.#call("containers.list", req);
      return { containers: [...this.records.values()] };
    },
    create: async (req) => {
      const id = req.container?.id ?? "";
      this.#call(`containers.create ${id}`, req);
      if (this.records.has(id)) throw alreadyExists(`container "${id}" already exists`);
      return { container: this.addRecord(req.container ?? {}) };
    },
    update: async (req) => {
      const id = req.container?.id ?? "";
      this.#call(`containers.update ${id}`, req);
      const r = this.records.get(id);
      if (r === undefined) throw notFound(`container "${id}" not found`);
      const next = ContainerRecord.fromPartial(req.container ?? {});
      for (const field of req.updateMask ?? []) {
        const [top, key] = (field ?? "").split(/\.(.*)/s);
        if (top === "spec") r.spec = next.spec;
        else if (top === "extensions" && key !== undefined && next.extensions[key] !== undefined)
          r.extensions[key] = next.extensions[key];
        else if (top === "labels" && key !== undefined) r.labels[key] = next.labels[key] ?? "";
      }
      r.updatedAt = new Date();
      return { container: r };
    },
    delete: async (req) => {
      this.#call(`containers.delete ${req.id}`, req);
      if (!this.records.delete(req.id ?? "")) throw notFound(`container "${req.id}" not found`);
      return {};
    },
  };

  #newProcess(containerId: string, execId: string, req: Req<TasksClient, "create">): FakeProcess {
    return {
      containerId,
      execId,
      pid: this.#nextPid++,
      status: TaskStatus.CREATED,
      exitStatus: 0,
      exitedAt: undefined,
      stdio: {
        stdin: req.stdin ?? "",
        stdout: req.stdout ?? "",
        stderr: req.stderr ?? "",
        terminal: req.terminal ?? false,
      },
      spec: undefined,
      exitOn: new Set([9, 15]),
      writers: [],
      waiters: [],
    };
  }

  /** Opens the write ends of a process's output FIFOs, as a shim does at start. */
  async #openOutput(p: FakeProcess): Promise<void> {
    for (const path of [p.stdio.stdout, p.stdio.stderr]) {
      if (path !== "" && path.startsWith("/")) p.writers.push(await open(path, "w"));
    }
  }

  readonly tasks: Containerd["tasks"] = {
    create: async (req) => {
      const id = req.containerId ?? "";
      this.#call(`tasks.create ${id}`, req);
      if (!this.records.has(id)) throw notFound(`container "${id}" not found`);
      if (this.taskTable.has(id)) throw alreadyExists(`task ${id} already exists`);
      const init = this.#newProcess(id, "", req);
      this.taskTable.set(id, { init, execs: new Map() });
      return { containerId: id, pid: init.pid };
    },
    start: async (req) => {
      this.#call(`tasks.start ${req.containerId} ${req.execId ?? ""}`.trim(), req);
      const p = this.process(req.containerId ?? "", req.execId ?? "");
      p.status = TaskStatus.RUNNING;
      await this.#openOutput(p);
      if (p.execId !== "") await this.onExecStart(p);
      return { pid: p.pid };
    },
    delete: async (req) => {
      this.#call(`tasks.delete ${req.containerId}`, req);
      const p = this.process(req.containerId ?? "");
      this.taskTable.delete(p.containerId);
      return { id: p.containerId, pid: p.pid, exitStatus: p.exitStatus, exitedAt: p.exitedAt };
    },
    deleteProcess: async (req) => {
      this.#call(`tasks.deleteProcess ${req.containerId} ${req.execId}`, req);
      const p = this.process(req.containerId ?? "", req.execId ?? "");
      this.task(p.containerId).execs.delete(p.execId);
      for (const w of p.writers.splice(0)) await w.close();
      return { id: p.execId, pid: p.pid, exitStatus: p.exitStatus, exitedAt: p.exitedAt };
    },
    get: async (req) => {
      this.#call(`tasks.get ${req.containerId}`, req);
      const p = this.process(req.containerId ?? "", req.execId ?? "");
      return {
        process: {
          containerId: p.containerId,
          id: p.execId || p.containerId,
          pid: p.pid,
          status: p.status,
          ...p.stdio,
          exitStatus: p.exitStatus,
          exitedAt: p.exitedAt,
        },
      };
    },
    kill: async (req) => {
      this.#call(`tasks.kill ${req.containerId} ${req.signal}`, req);
      const p = this.process(req.containerId ?? "", req.execId ?? "");
      if (p.status === TaskStatus.STOPPED) throw notFound(`process of ${p.containerId} already exited`);
      if (p.exitOn.has(req.signal ?? 0)) await this.exit(p, 128 + (req.signal ?? 0));
      return {};
    },
    exec: async (req) => {
      const id = req.containerId ?? "";
      const execId = req.execId ?? "";
      this.#call(`tasks.exec ${id}`, req);
      const t = this.task(id);
      if (t.execs.has(execId)) throw alreadyExists(`exec ${execId} already exists`);
      const p = this.#newProcess(id, execId, req);
      p.spec = JSON.parse(Buffer.from(req.spec?.value ?? []).toString("utf8")) as Record<string, unknown>;
      t.execs.set(execId, p);
      return {};
    },
    resizePty: async (req) => {
      this.#call(`tasks.resizePty ${req.containerId}`, req);
      return {};
    },
    closeIO: async (req) => {
      this.#call(`tasks.closeIO ${req.containerId}`, req);
      return {};
    },
    update: async (req) => {
      this.#call(`tasks.update ${req.containerId}`, req);
      this.task(req.containerId ?? "");
      return {};
    },
    metrics: async (req) => {
      this.#call("tasks.metrics", req);
      const wanted = (req.filters ?? []).map((f) => f?.replace(/^id==/, ""));
      return {
        metrics: [...this.metricsTable]
          .filter(([id]) => wanted.length === 0 || wanted.includes(id))
          .map(([id, m]) => ({
            id,
            timestamp: new Date(),
            data: {
              typeUrl: "io.containerd.cgroups.v1.Metrics",
              value: Buffer.from(CgroupV1Metrics.encode(m).finish()),
            },
          })),
      };
    },
    wait: (req, options?: WaitOptions) => {
      const call = `tasks.wait ${req.containerId} ${req.execId ?? ""}`.trim();
      return new Promise((resolve, reject) => {
        this.#call(call, req);
        const p = this.process(req.containerId ?? "", req.execId ?? "");
        const done = () => resolve({ exitStatus: p.exitStatus, exitedAt: p.exitedAt });
        if (p.status === TaskStatus.STOPPED) return done();
        const signal = options?.signal;
        if (signal?.aborted) return reject(signal.reason);
        p.waiters.push(done);
        signal?.addEventListener("abort", () => reject(signal.reason), { once: true });
      });
    },
  };

  #snapshots(lease: string): DaemonSnapshots {
    const mounts = (key: string): Mount[] => [
      { type: "bind", source: `/fake/snapshots/${key}`, target: "", options: ["rbind", "rw"] },
    ];
    const add = (key: string, parent: string, view: boolean) => {
      if (this.snapshotTable.has(key)) throw alreadyExists(`snapshot ${key} already exists`);
      this.snapshotTable.set(key, { parent, lease, view });
      return { mounts: mounts(key) };
    };
    const known = (key: string) => {
      if (!this.snapshotTable.has(key)) throw notFound(`snapshot ${key} does not exist`);
    };
    return {
      prepare: async (req: Req<SnapshotsClient, "prepare">) => {
        this.#call(`snapshots.prepare ${req.key}`, req);
        return add(req.key ?? "", req.parent ?? "", false);
      },
      view: async (req: Req<SnapshotsClient, "view">) => {
        this.#call(`snapshots.view ${req.key}`, req);
        return add(req.key ?? "", req.parent ?? "", true);
      },
      mounts: async (req: Req<SnapshotsClient, "mounts">) => {
        this.#call(`snapshots.mounts ${req.key}`, req);
        known(req.key ?? "");
        return { mounts: mounts(req.key ?? "") };
      },
      remove: async (req: Req<SnapshotsClient, "remove">) => {
        this.#call(`snapshots.remove ${req.key}`, req);
        known(req.key ?? "");
        this.snapshotTable.delete(req.key ?? "");
        return {};
      },
      usage: async (req: Req<SnapshotsClient, "usage">) => {
        this.#call(`snapshots.usage ${req.key}`, req);
        known(req.key ?? "");
        return { size: 4096, inodes: 3 };
      },
      list: (req: Req<SnapshotsClient, "list">) => {
        this.#call("snapshots.list", req);
        const info = [...this.snapshotTable.entries()].map(([name, s]) => ({
          name,
          parent: s.parent,
          kind: 0,
          createdAt: undefined,
          updatedAt: undefined,
          labels: {},
        }));
        return (async function* () {
          yield { info };
        })();
      },
    };
  }

  readonly snapshots = this.#snapshots("");

  withLease(lease: string): { readonly snapshots: DaemonSnapshots } {
    return { snapshots: this.#snapshots(lease) };
  }

  readonly leases: Containerd["leases"] = {
    create: async (req) => {
      this.#call(`leases.create ${req.id}`, req);
      this.leaseIds.add(req.id ?? "");
      return { lease: { id: req.id ?? "", createdAt: new Date(), labels: {} } };
    },
    delete: async (req) => {
      this.#call(`leases.delete ${req.id}`, req);
      this.leaseIds.delete(req.id ?? "");
      return {};
    },
  };

  readonly images: Pick<ImagesClient, "create" | "update" | "delete"> = {
    create: async (req) => {
      const name = req.image?.name ?? "";
      this.#call(`images.create ${name}`, req);
      if (this.imageRecords.has(name)) throw alreadyExists(`image "${name}" already exists`);
      this.imageRecords.set(name, req.image as Image);
      return { image: req.image as Image };
    },
    update: async (req) => {
      const name = req.image?.name ?? "";
      this.#call(`images.update ${name}`, req);
      this.imageRecords.set(name, req.image as Image);
      return { image: req.image as Image };
    },
    delete: async (req) => {
      this.#call(`images.delete ${req.name}`, req);
      if (!this.imageRecords.delete(req.name ?? "")) throw notFound(`image "${req.name}" not found`);
      return {};
    },
  };

  readonly events: Containerd["events"] = {
    subscribe: (_req, options?: WaitOptions) =>
      (async function* () {
        const signal = options?.signal;
        if (signal !== undefined && !signal.aborted)
          await new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }));
      })(),
  };

  readonly introspection: Containerd["introspection"] = {
    plugins: async () => ({
      plugins: [
        {
          type: "io.containerd.snapshotter.v1",
          id: "overlayfs",
          requires: [],
          platforms: [],
          exports: { root: "/fake/snapshotter" },
          capabilities: [],
          initErr: undefined,
        },
      ],
    }),
  };

  readonly version: Containerd["version"] = {
    version: async () => {
      this.#call("version.version", {});
      if (this.down !== undefined) throw this.down;
      return { version: "1.6.20", revision: "fake" };
    },
  };

  async pull(name: string, options: PullOptions): Promise<Image> {
    this.#call(`pull ${name}`, options);
    const record = this.onPull(name, options);
    if (record === undefined) throw notFound(`${name}: not found in the fake registry`);
    this.imageRecords.set(name, record);
    return record;
  }

  close(): void {}
}

/** Exits `exitOn` (none by default): the process outlives SIGTERM and SIGKILL alike. */
export function ignoreSignals(p: FakeProcess, exitOn: Set<number> = NEVER_EXITS): void {
  p.exitOn = exitOn;
}

/** An image as the image store reports it, with a made-up but well-formed ID. */
export function fakeImage(ref: string, spec: ImageSpec = {}): CriImage {
  const name = formatReference(parseReference(ref));
  const hex = Buffer.from(name).toString("hex").padEnd(64, "0").slice(0, 64);
  const id = `sha256:${hex}`;
  return {
    id,
    chainId: `sha256:${hex.split("").reverse().join("")}`,
    size: 1234,
    spec: { architecture: "amd64", os: "linux", ...spec },
    references: [id, name].sort(),
    target: {
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      digest: id,
      size: 100,
      annotations: {},
    },
  };
}

/** A daemon image record named `name` pointing at `image`'s target. */
export function imageRecord(name: string, image: CriImage, labels: Record<string, string> = {}): Image {
  return { name, labels, target: image.target, createdAt: undefined, updatedAt: undefined };
}

/** The daemon's images as berth-cri sees them: a list tests fill. */
export class FakeImageStore implements CriImages {
  readonly images: CriImage[] = [];
  invalidations = 0;

  add(image: CriImage): CriImage {
    this.images.push(image);
    return image;
  }

  async resolve(refOrId: string): Promise<CriImage> {
    let name = refOrId;
    try {
      name = formatReference(parseReference(refOrId));
    } catch {
      // an ID, or not a reference at all
    }
    const found = this.images.find((i) => i.id === refOrId || i.references.includes(name));
    if (found === undefined) throw notFound(`image "${refOrId}" not found`);
    return { ...found, references: [...found.references] };
  }

  async list(): Promise<CriImage[]> {
    return this.images.map((i) => ({ ...i, references: [...i.references] }));
  }

  async describeRecord(name: string): Promise<CriImage | undefined> {
    return this.images.find((i) => i.references.includes(name));
  }

  invalidate(): void {
    this.invalidations++;
  }
}

/** CNI with one network: ADD hands out 10.88.0.<n>, DEL is recorded. */
export class FakeNetwork implements PodNetwork {
  readonly calls: Array<{ op: "ADD" | "DEL"; attachment: CniAttachment; prevResult?: unknown }> = [];
  state: CniStatus = { ready: true, reason: "", message: "" };
  addFailure: Error | undefined;
  readonly config: CniConfigList = {
    file: "/fake/net.d/10-fake.conflist",
    name: "fake",
    cniVersion: "1.0.0",
    plugins: [],
  };
  #next = 2;

  async status(): Promise<CniStatus> {
    return this.state;
  }

  async currentConfig(): Promise<CniConfigList> {
    return this.config;
  }

  async add(_config: CniConfigList, attachment: CniAttachment): Promise<unknown> {
    this.calls.push({ op: "ADD", attachment });
    if (this.addFailure !== undefined) throw this.addFailure;
    return {
      cniVersion: "1.0.0",
      interfaces: [{ name: attachment.ifName, sandbox: attachment.netns }],
      ips: [{ address: `10.88.0.${this.#next++}/16`, interface: 0 }],
    };
  }

  async del(_config: CniConfigList, attachment: CniAttachment, prevResult: unknown): Promise<void> {
    this.calls.push({ op: "DEL", attachment, prevResult });
  }
}

/** Network namespaces by path, none of them real. */
export class FakeNetns implements NetnsStore {
  readonly pinned = new Set<string>();

  async create(id: string): Promise<string> {
    const path = `/run/fake/netns/${id}`;
    this.pinned.add(path);
    return path;
  }

  async remove(path: string): Promise<void> {
    this.pinned.delete(path);
  }

  async exists(path: string): Promise<boolean> {
    return this.pinned.has(path);
  }
}

/** Pod files by sandbox id, nothing written or mounted. */
export class FakePodFiles implements PodFiles {
  readonly pods = new Map<string, SandboxFiles>();
  readonly unmounted: string[] = [];

  async setUp(id: string, _config: PodSandboxConfig): Promise<SandboxFiles> {
    const dir = `/fake/sandboxes/${id}`;
    const files = {
      hostnamePath: `${dir}/hostname`,
      hostsPath: `${dir}/hosts`,
      resolvConfPath: `${dir}/resolv.conf`,
      shmPath: `${dir}/shm`,
    };
    this.pods.set(id, files);
    return files;
  }

  async unmountShm(files: Pick<SandboxFiles, "shmPath">): Promise<void> {
    this.unmounted.push(files.shmPath);
  }

  async remove(id: string): Promise<void> {
    this.pods.delete(id);
  }
}

/** Every image has an empty /etc/passwd and /etc/group. */
export const noImageUsers: ImageUsers = async () => userDatabase(undefined, undefined);

/** The streaming server's URL minting: the requests it was given, and a URL per token. */
export class FakeStreaming implements Pick<StreamingServer, "url"> {
  readonly requests: StreamingRequest[] = [];

  url(request: StreamingRequest): string {
    this.requests.push(request);
    return `http://127.0.0.1:1/${request.kind}/token${this.requests.length}`;
  }
}
