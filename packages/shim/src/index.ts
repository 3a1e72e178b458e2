// containerd-shim-berth-v2 as a library: main.ts only parses flags and calls these.

export { GROUP_ANNOTATIONS, SOCKET_DIR, groupKey, socketAddress, socketPath } from "./address.js";
export { Container, clampOomScoreAdj } from "./container.js";
export { decodeOptions } from "./options.js";
export { deleteShim } from "./delete.js";
export { EventPublisher, Topics, packEvent } from "./events.js";
export { type ShimFlags, parseFlags } from "./flags.js";
export { metricsFromRunc, packMetrics } from "./metrics.js";
export { Reaper } from "./reaper.js";
export { Runc } from "./runc.js";
export { serve } from "./serve.js";
export { startShim } from "./start.js";
export { REOPEN_LOG_ANNOTATION, TaskService } from "./service.js";
export { CRI_LOG_SCHEME } from "./stdio.js";
