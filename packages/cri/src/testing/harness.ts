// A Cri over the fakes of fakes.ts, with a private root and state dir, and the steps most
// unit tests start from (a pod, a container in it, started), made through the CRI calls
// themselves so that the state they leave is what a client would have.

import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  ContainerConfig,
  type CreateContainerRequest,
  PodSandboxConfig,
  type RunPodSandboxRequest,
} from "@berth/api/cri/runtime/v1/api";
import { type ErrorKind, errorKind } from "@berth/client";
import { silentLogger } from "@berth/client/log";
import { type CriConfig, defaultCriConfig } from "../config.js";
import { Cri, type CriDeps } from "../cri.js";
import { createContainer } from "../runtime/create-container.js";
import { runPodSandbox } from "../runtime/run-pod-sandbox.js";
import { startContainer } from "../runtime/start-container.js";
import type { Container, Sandbox } from "../store/stores.js";
import {
  FakeDaemon,
  FakeImageStore,
  FakeNetns,
  FakeNetwork,
  FakePodFiles,
  type FakeProcess,
  FakeStreaming,
  fakeImage,
  noImageUsers,
} from "./fakes.js";

export const APP_IMAGE = "docker.io/library/busybox:latest";

export interface Harness {
  cri: Cri;
  daemon: FakeDaemon;
  images: FakeImageStore;
  cni: FakeNetwork;
  netns: FakeNetns;
  podFiles: FakePodFiles;
  /** Removes the root and state dirs. */
  close(): Promise<void>;
  /** RunPodSandbox with a pod named `name` (labels and more from `config`). */
  runPod(name?: string, config?: Parameters<typeof PodSandboxConfig.fromPartial>[0]): Promise<Sandbox>;
  /** CreateContainer of `name` from APP_IMAGE in `pod`. */
  createContainer(
    pod: Sandbox,
    name?: string,
    config?: Parameters<typeof ContainerConfig.fromPartial>[0],
  ): Promise<Container>;
  /** CreateContainer then StartContainer. */
  runContainer(pod: Sandbox, name?: string): Promise<Container>;
  /** The fake daemon's init process of a container or sandbox. */
  process(id: string): FakeProcess;
  /** Pods a and b: a runs web and has job (created, labelled role=batch), b runs other. */
  twoPods(): Promise<{ a: Sandbox; b: Sandbox; web: Container; job: Container; other: Container }>;
  /** A new Cri over the same fakes, its caches empty: berth-cri restarted, the daemon kept everything. */
  restarted(): Cri;
  /** What Exec, Attach and PortForward handed the streaming server. */
  streaming: FakeStreaming;
}

/** A Cri over fresh fakes, removed when the test ends (`t.after(h.close)`). */
export async function newHarness(config: Partial<CriConfig> = {}): Promise<Harness> {
  const dir = await mkdtemp(join(tmpdir(), "berth-cri-unit-"));
  const daemon = new FakeDaemon();
  const images = new FakeImageStore();
  const cni = new FakeNetwork();
  const netns = new FakeNetns();
  const podFiles = new FakePodFiles();
  const full: CriConfig = {
    ...defaultCriConfig,
    root: join(dir, "root"),
    state: join(dir, "state"),
    ...config,
  };
  images.add(fakeImage(full.sandboxImage, { config: { Entrypoint: ["/pause"] } }));
  images.add(fakeImage(APP_IMAGE, { config: { Cmd: ["sh"], Env: ["PATH=/bin"] } }));
  const deps: CriDeps = {
    config: full,
    log: silentLogger,
    containerd: daemon,
    images,
    cni,
    netns,
    podFiles,
    imageUsers: noImageUsers,
  };
  const cri = new Cri(deps);
  const signal = new AbortController().signal;
  let pods = 0;
  const h: Harness = {
    cri,
    daemon,
    images,
    cni,
    netns,
    podFiles,
    async close() {
      // Output copies of containers still running (FIFO-fed logs) would keep the test alive.
      for (const c of cri.containers.list()) {
        c.io?.close();
        await c.io?.log.close();
      }
      await rm(dir, { recursive: true, force: true });
    },
    async runPod(name = `pod${pods++}`, config = {}) {
      const req: RunPodSandboxRequest = {
        config: PodSandboxConfig.fromPartial({
          metadata: { name, namespace: "default", uid: `uid-${name}`, attempt: 0 },
          logDirectory: join(dir, "logs", name),
          ...config,
        }),
        runtimeHandler: "",
      };
      const { podSandboxId } = await runPodSandbox(cri, req, signal);
      return cri.sandboxes.get(podSandboxId);
    },
    async createContainer(pod, name = "app", config = {}) {
      const req: CreateContainerRequest = {
        podSandboxId: pod.meta.id,
        config: ContainerConfig.fromPartial({
          metadata: { name, attempt: 0 },
          image: { image: APP_IMAGE },
          ...config,
        }),
        sandboxConfig: pod.meta.config,
      };
      const { containerId } = await createContainer(cri, req, signal);
      return cri.containers.get(containerId);
    },
    async runContainer(pod, name) {
      const c = await h.createContainer(pod, name, { logPath: `${name ?? "app"}.log` });
      await startContainer(cri, { containerId: c.meta.id });
      return c;
    },
    process: (id) => daemon.process(id),
    async twoPods() {
      const a = await h.runPod("a");
      const b = await h.runPod("b");
      const web = await h.runContainer(a, "web");
      const job = await h.createContainer(a, "job", { labels: { role: "batch" } });
      const other = await h.runContainer(b, "other");
      return { a, b, web, job, other };
    },
    restarted: () => new Cri(deps),
    streaming: new FakeStreaming(),
  };
  return h;
}

/** newHarness for one test, its dirs removed when the test ends. */
export async function harness(
  t: { after(fn: () => Promise<void>): void },
  config: Partial<CriConfig> = {},
): Promise<Harness> {
  const h = await newHarness(config);
  t.after(h.close);
  return h;
}

/** Asserts that `p` fails with the error kind (gRPC status) and a message matching `message`. */
export async function rejectsWith(p: Promise<unknown>, kind: ErrorKind, message: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.equal(errorKind(err), kind, `error kind of: ${String(err)}`);
    assert.match((err as Error).message, message);
    return true;
  });
}
