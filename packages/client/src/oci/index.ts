// OCI runtime specs: the default spec, seccomp profiles, users from an image's passwd and
// group files, and the specs of CRI pod sandboxes and containers.

export * from "./capabilities.js";
export * from "./cri-spec.js";
export * from "./host.js";
export * from "./oom-score-adj.js";
export * from "./seccomp.js";
export * from "./spec.js";
export * from "./user.js";
