// CRI Image messages from the image store's view.
import type { Image } from "@berth/api/cri/runtime/v1/api";
import { type CriImage, imageUser, splitReferences } from "./image-store.js";

export function toCriImage(image: CriImage): Image {
  const { repoTags, repoDigests } = splitReferences(image.references);
  const user = imageUser(image.spec);
  return {
    id: image.id,
    repoTags,
    repoDigests,
    size: BigInt(image.size),
    uid: user.uid !== undefined ? { value: BigInt(user.uid) } : undefined,
    username: user.username,
    spec: undefined,
    pinned: false,
  };
}
