// berth-cri as a library: config, the daemon, and the pieces tests use directly.
export * from "./config.js";
export * from "@berth/client/log";
export { startBerthCri, type BerthCri } from "./server.js";
export { Cri } from "./cri.js";
export { CriLogFile, rfc3339Nano } from "./io/cri-log.js";
export { CniNetwork, loadCniConfig, parseCniConfig, resultIps } from "./network/cni.js";
