import { Options } from "@berth/api/containerd/runtime/v2/runc/options/oci";
import type { Any } from "@berth/api/google/protobuf/any";
import { invalidArgument } from "./errors.js";

// The runc runtime options (containerd.runc.v1.Options) the daemon passes on Create and on
// `start`'s stdin: binary name, runc root, systemd cgroups, shim cgroup.

export const OPTIONS_TYPE_URL = "containerd.runc.v1.Options";

/** Decodes the options Any; defaults when absent. */
export function decodeOptions(any: Any | undefined): Options {
  if (any === undefined || any.typeUrl === "") return Options.fromPartial({});
  const name = any.typeUrl.slice(any.typeUrl.lastIndexOf("/") + 1);
  if (name !== OPTIONS_TYPE_URL) {
    throw invalidArgument(`unsupported runtime options type ${any.typeUrl} (want ${OPTIONS_TYPE_URL})`);
  }
  return Options.decode(any.value);
}
