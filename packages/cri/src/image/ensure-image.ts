// The image a sandbox or container needs: found locally, or pulled (the sandbox image is
// pulled on demand; kubelet pulls application images itself before CreateContainer).
import { isNotFound } from "@berth/client";
import type { ImageConfig } from "@berth/client/oci/index";
import type { Cri } from "../cri.js";
import type { CriImage, ImageSpec } from "./image-store.js";
import { pullImage } from "./pull-image.js";

export async function ensureImage(cri: Cri, ref: string, signal: AbortSignal): Promise<CriImage> {
  try {
    return await cri.images.resolve(ref, signal);
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  await pullImage(
    cri,
    { image: { image: ref, annotations: {} }, auth: undefined, sandboxConfig: undefined },
    signal,
  );
  return cri.images.resolve(ref, signal);
}

/** The parts of an image config the spec builders read. */
export function imageConfigOf(spec: ImageSpec): ImageConfig {
  const c = spec.config ?? {};
  const out: ImageConfig = {};
  if (Array.isArray(c.Env)) out.env = c.Env;
  if (Array.isArray(c.Entrypoint)) out.entrypoint = c.Entrypoint;
  if (Array.isArray(c.Cmd)) out.cmd = c.Cmd;
  if (typeof c.WorkingDir === "string") out.workingDir = c.WorkingDir;
  if (typeof c.User === "string") out.user = c.User;
  if (c.Volumes !== undefined && c.Volumes !== null) out.volumes = c.Volumes;
  return out;
}
