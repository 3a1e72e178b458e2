// RemoveImage: deletes every reference of the image (the ID, tags, digests), the last one
// synchronously so that garbage collection frees its content and snapshots. An image that
// is not there is not an error.
import type { RemoveImageRequest, RemoveImageResponse } from "@berth/api/cri/runtime/v1/api";
import { isNotFound } from "@berth/client";
import type { Cri } from "../cri.js";

export async function removeImage(
  cri: Cri,
  req: RemoveImageRequest,
  signal: AbortSignal,
): Promise<RemoveImageResponse> {
  const ref = req.image?.image ?? "";
  let image: Awaited<ReturnType<typeof cri.images.resolve>>;
  try {
    image = await cri.images.resolve(ref, signal);
  } catch (err) {
    if (isNotFound(err)) return {};
    throw err;
  }
  const refs = image.references;
  for (let i = 0; i < refs.length; i++) {
    try {
      await cri.containerd.images.delete({ name: refs[i]!, sync: i === refs.length - 1 }, { signal });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
  cri.images.invalidate();
  cri.log.info("image removed", { id: image.id, references: refs });
  return {};
}
