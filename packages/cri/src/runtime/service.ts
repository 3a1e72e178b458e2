// runtime.v1.RuntimeService: each call is in its own file in this folder.
import type { RuntimeServiceImplementation } from "@berth/api/cri/runtime/v1/api";
import type { Cri } from "../cri.js";
import type { StreamingServer } from "../streaming/server.js";
import { attach } from "./attach.js";
import { containerStats, listContainerStats } from "./container-stats.js";
import { containerStatus } from "./container-status.js";
import { createContainer } from "./create-container.js";
import { execSync } from "./exec-sync.js";
import { exec } from "./exec.js";
import { getContainerEvents } from "./get-container-events.js";
import { listContainers } from "./list-containers.js";
import { listPodSandbox } from "./list-pod-sandbox.js";
import { listMetricDescriptors, listPodSandboxMetrics } from "./pod-sandbox-metrics.js";
import { listPodSandboxStats, podSandboxStats } from "./pod-sandbox-stats.js";
import { podSandboxStatus } from "./pod-sandbox-status.js";
import { portForward } from "./port-forward.js";
import { removeContainer } from "./remove-container.js";
import { removePodSandbox } from "./remove-pod-sandbox.js";
import { reopenContainerLog } from "./reopen-container-log.js";
import { runPodSandbox } from "./run-pod-sandbox.js";
import { startContainer } from "./start-container.js";
import { status } from "./status.js";
import { stopContainer } from "./stop-container.js";
import { stopPodSandbox } from "./stop-pod-sandbox.js";
import { checkpointContainer } from "./unimplemented.js";
import { updateContainerResources } from "./update-container-resources.js";
import { updateRuntimeConfig } from "./update-runtime-config.js";
import { version } from "./version.js";

export function runtimeService(cri: Cri, streaming: StreamingServer): RuntimeServiceImplementation {
  return {
    version: (req) => version(req),
    runPodSandbox: (req, ctx) => runPodSandbox(cri, req, ctx.signal),
    stopPodSandbox: (req) => stopPodSandbox(cri, req),
    removePodSandbox: (req) => removePodSandbox(cri, req),
    podSandboxStatus: (req) => podSandboxStatus(cri, req),
    listPodSandbox: (req) => listPodSandbox(cri, req),
    createContainer: (req, ctx) => createContainer(cri, req, ctx.signal),
    startContainer: (req) => startContainer(cri, req),
    stopContainer: (req) => stopContainer(cri, req),
    removeContainer: (req) => removeContainer(cri, req),
    listContainers: (req) => listContainers(cri, req),
    containerStatus: (req) => containerStatus(cri, req),
    updateContainerResources: (req) => updateContainerResources(cri, req),
    reopenContainerLog: (req) => reopenContainerLog(cri, req),
    execSync: (req, ctx) => execSync(cri, req, ctx.signal),
    exec: (req) => exec(cri, streaming, req),
    attach: (req) => attach(cri, streaming, req),
    portForward: (req) => portForward(cri, streaming, req),
    containerStats: (req) => containerStats(cri, req),
    listContainerStats: (req) => listContainerStats(cri, req),
    podSandboxStats: (req) => podSandboxStats(cri, req),
    listPodSandboxStats: (req) => listPodSandboxStats(cri, req),
    updateRuntimeConfig: (req) => updateRuntimeConfig(cri, req),
    status: (req) => status(cri, req),
    checkpointContainer: (req) => checkpointContainer(req),
    getContainerEvents: (req, ctx) => getContainerEvents(cri, req, ctx.signal),
    listMetricDescriptors: (req) => listMetricDescriptors(req),
    listPodSandboxMetrics: (req) => listPodSandboxMetrics(cri, req),
  };
}
