import { ImageCreate, ImageDelete, ImageUpdate } from "@berth/api/containerd/events/image";
import type { Image, ImagesServiceImplementation } from "@berth/api/containerd/services/images/v1/images";
import { invalidArgument } from "@berth/client/errdefs";
import type { EventPublisher } from "../events/publisher.js";
import type { GarbageCollector } from "../metadata/gc.js";
import type { ImageRecord, ImageStore } from "../metadata/images.js";
import { requestContext } from "../server/context.js";
import { descriptorFromWire } from "../server/convert.js";

const toWire = (img: ImageRecord): Image => img;

function fromWire(img: Image | undefined) {
  if (!img) throw invalidArgument("image must not be empty");
  return { name: img.name, labels: img.labels, target: descriptorFromWire(img.target) };
}

export function imagesService(
  store: ImageStore,
  gc: GarbageCollector,
  events: EventPublisher,
): ImagesServiceImplementation {
  return {
    async get(req, call) {
      return { image: toWire(store.get(requestContext(call), req.name)) };
    },
    async list(req, call) {
      return { images: store.list(requestContext(call), req.filters).map(toWire) };
    },
    async create(req, call) {
      const ctx = requestContext(call);
      const img = store.create(ctx, fromWire(req.image));
      events.publish(
        ctx.namespace,
        "/images/create",
        "containerd.services.images.v1.ImageCreate",
        ImageCreate,
        { name: img.name, labels: img.labels },
      );
      return { image: toWire(img) };
    },
    async update(req, call) {
      const ctx = requestContext(call);
      const img = store.update(ctx, fromWire(req.image), req.updateMask ?? []);
      events.publish(
        ctx.namespace,
        "/images/update",
        "containerd.services.images.v1.ImageUpdate",
        ImageUpdate,
        { name: img.name, labels: img.labels },
      );
      return { image: toWire(img) };
    },
    async delete(req, call) {
      const ctx = requestContext(call);
      store.delete(ctx, req.name);
      events.publish(
        ctx.namespace,
        "/images/delete",
        "containerd.services.images.v1.ImageDelete",
        ImageDelete,
        { name: req.name },
      );
      if (req.sync) await gc.collect();
      else gc.schedule();
      return {};
    },
  };
}
