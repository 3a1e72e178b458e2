import { notImplemented } from "@berth/client/errdefs";
import { type ParsedOptions, parseMountOptions as splitOptions } from "@berth/shim/mount";

// Splits a Mount's option list the way mount(8) does: words it knows become mount(2)
// flags, propagation changes need a call of their own, and everything else is handed to
// the filesystem as its data string. The word tables are the shim's, which mounts
// containers' root filesystems the same way.

export type MountOptions = ParsedOptions;

export function parseMountOptions(options: readonly string[]): MountOptions {
  if (options.includes("loop")) throw notImplemented("loop mounts are not supported");
  return splitOptions(options);
}
