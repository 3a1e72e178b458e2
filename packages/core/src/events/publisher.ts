// What services use to emit containerd's events (ImageCreate on /images/create, …).
import { type MessageType, toAny } from "../server/convert.js";
import type { EventExchange } from "./exchange.js";

export class EventPublisher {
  constructor(private readonly exchange: EventExchange) {}

  /**
   * `typeUrl` is the event's full proto message name, which is what containerd's typeurl
   * puts in the Any: "containerd.events.TaskExit", but "containerd.services.images.v1.ImageCreate".
   */
  publish<T>(namespace: string, topic: string, typeUrl: string, type: MessageType<T>, event: T): void {
    this.exchange.publish({ timestamp: new Date(), namespace, topic, event: toAny(typeUrl, type, event) });
  }
}
