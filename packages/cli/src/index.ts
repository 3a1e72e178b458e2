export { describeError, parseGlobal, run, usage } from "./berthctl.js";
export type { RunEnvironment } from "./berthctl.js";
export * from "./command.js";
export { commandGroups } from "./commands/index.js";
export { PullProgressView } from "./progress.js";
