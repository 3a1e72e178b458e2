// Conversions between wire messages and store records, shared by services.
import type { Any } from "@berth/api/google/protobuf/any";
import type { Descriptor } from "../metadata/images.js";

export function descriptorFromWire(
  d: { mediaType: string; digest: string; size: number; annotations: { [k: string]: string } } | undefined,
): Descriptor {
  return {
    mediaType: d?.mediaType ?? "",
    digest: d?.digest ?? "",
    size: d?.size ?? 0,
    annotations: d?.annotations ?? {},
  };
}

export interface MessageType<T> {
  encode(message: T): { finish(): Uint8Array };
}

/** Packs a message into an Any with containerd's type URL (the message's full proto name). */
export function toAny<T>(typeUrl: string, type: MessageType<T>, message: T): Any {
  return { typeUrl, value: Buffer.from(type.encode(message).finish()) };
}
