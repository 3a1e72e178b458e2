import { buildInfo } from "@berth/client/build-info";

/** The shim's version (Berth's), reported by `-v` and by the Connect call. */
export const VERSION = buildInfo().version;
