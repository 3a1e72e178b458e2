// ImageStatus: the image a reference or ID names, or an empty response when there is
// none (not an error, as kubelet expects). Verbose adds the chain ID and image config.
import type { ImageStatusRequest, ImageStatusResponse } from "@berth/api/cri/runtime/v1/api";
import { isNotFound } from "@berth/client";
import type { Cri } from "../cri.js";
import { toCriImage } from "./convert.js";

export async function imageStatus(
  cri: Cri,
  req: ImageStatusRequest,
  signal: AbortSignal,
): Promise<ImageStatusResponse> {
  const ref = req.image?.image ?? "";
  let image: Awaited<ReturnType<typeof cri.images.resolve>>;
  try {
    image = await cri.images.resolve(ref, signal);
  } catch (err) {
    if (isNotFound(err)) return { image: undefined, info: {} };
    throw err;
  }
  const info: Record<string, string> = {};
  if (req.verbose) info.info = JSON.stringify({ chainID: image.chainId, imageSpec: image.spec });
  return { image: toCriImage(image), info };
}
