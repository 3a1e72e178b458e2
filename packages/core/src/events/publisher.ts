// What services use to emit containerd's events (ImageCreate on /images/create, …).
import { type MessageType, toAny } from "../server/convert.js";
import type { EventExchange } from "./exchange.js";

export class EventPublisher {
  constructor(private readonly exchange: EventExchange) {}

  /** `name` is the event's proto message name within `containerd.events`, e.g. "ImageCreate". */
  publish<T>(namespace: string, topic: string, name: string, type: MessageType<T>, event: T): void {
    this.exchange.publish({ timestamp: new Date(), namespace, topic, event: toAny(`containerd.events.${name}`, type, event) });
  }
}
