// runtime.v1.ImageService: each call is in its own file in this folder.
import type { ImageServiceImplementation } from "@berth/api/cri/runtime/v1/api";
import type { Cri } from "../cri.js";
import { imageFsInfo } from "./image-fs-info.js";
import { imageStatus } from "./image-status.js";
import { listImages } from "./list-images.js";
import { pullImage } from "./pull-image.js";
import { removeImage } from "./remove-image.js";

export function imageService(cri: Cri): ImageServiceImplementation {
  return {
    listImages: (req, ctx) => listImages(cri, req, ctx.signal),
    imageStatus: (req, ctx) => imageStatus(cri, req, ctx.signal),
    pullImage: (req, ctx) => pullImage(cri, req, ctx.signal),
    removeImage: (req, ctx) => removeImage(cri, req, ctx.signal),
    imageFsInfo: (req) => imageFsInfo(cri, req),
  };
}
