// ListImages: every image in the namespace, one entry per image ID; the filter names an
// image the way ImageStatus does.
import type { ListImagesRequest, ListImagesResponse } from "@berth/api/cri/runtime/v1/api";
import { isNotFound } from "@berth/client";
import type { Cri } from "../cri.js";
import { toCriImage } from "./convert.js";

export async function listImages(
  cri: Cri,
  req: ListImagesRequest,
  signal: AbortSignal,
): Promise<ListImagesResponse> {
  const wanted = req.filter?.image?.image ?? "";
  if (wanted !== "") {
    try {
      return { images: [toCriImage(await cri.images.resolve(wanted, signal))] };
    } catch (err) {
      if (isNotFound(err)) return { images: [] };
      throw err;
    }
  }
  return { images: (await cri.images.list(signal)).map(toCriImage) };
}
