// containerd.services.diff.v1.Diff over the walking differ.
import type { DiffServiceImplementation } from "@berth/api/containerd/services/diff/v1/diff";
import { invalidArgument } from "@berth/client/errdefs";
import type { Mount } from "../mount/mount.js";
import { requestContext } from "../server/context.js";
import { descriptorFromWire } from "../server/convert.js";
import type { Differ } from "./differ.js";

const mountsFromWire = (
  mounts: { type: string; source: string; target: string; options: string[] }[],
): Mount[] => mounts.map((m) => ({ type: m.type, source: m.source, target: m.target, options: m.options }));

export function diffService(differ: Differ): DiffServiceImplementation {
  return {
    async apply(req, call) {
      if (!req.diff) throw invalidArgument("diff descriptor must not be empty");
      return {
        applied: await differ.apply(
          requestContext(call),
          descriptorFromWire(req.diff),
          mountsFromWire(req.mounts),
        ),
      };
    },
    async diff(req, call) {
      return {
        diff: await differ.diff(requestContext(call), mountsFromWire(req.left), mountsFromWire(req.right), {
          mediaType: req.mediaType,
          ref: req.ref,
          labels: req.labels,
        }),
      };
    },
  };
}
