// Containers and tasks for clients of the containerd API (berthctl, tests): container
// records from images with a ctr-like runtime spec, stdio FIFOs, task and exec
// lifecycle, signals and metrics.

export * from "./containers.js";
export * from "./image.js";
export * from "./metrics.js";
export * from "./rootfs.js";
export * from "./signals.js";
export * from "./spec.js";
export * from "./stdio.js";
export * from "./tasks.js";
export * from "./user.js";
