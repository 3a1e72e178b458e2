// containerd.services.events.v1.Events over gRPC, and the ttrpc Events service shims forward to.
import type { EventsServiceImplementation } from "@berth/api/containerd/services/events/v1/events";
import { invalidArgument } from "@berth/client/errdefs";
import { validateNamespace } from "../metadata/context.js";
import { requestContext } from "../server/context.js";
import type { EventExchange } from "./exchange.js";
import { validTopic } from "./exchange.js";

function checkTopic(topic: string): void {
  if (!validTopic(topic))
    throw invalidArgument(`envelope topic ${JSON.stringify(topic)}: must be a path like /tasks/exit`);
}

export function eventsService(exchange: EventExchange): EventsServiceImplementation {
  return {
    async publish(req, call) {
      const ns = validateNamespace(requestContext(call).namespace);
      checkTopic(req.topic);
      if (!req.event) throw invalidArgument("event must not be empty");
      exchange.publish({ timestamp: new Date(), namespace: ns, topic: req.topic, event: req.event });
      return {};
    },
    async forward(req) {
      const e = req.envelope;
      if (!e) throw invalidArgument("envelope must not be empty");
      validateNamespace(e.namespace);
      checkTopic(e.topic);
      if (!e.event) throw invalidArgument("event must not be empty");
      exchange.publish({
        timestamp: e.timestamp ?? new Date(),
        namespace: e.namespace,
        topic: e.topic,
        event: e.event,
      });
      return {};
    },
    async *subscribe(req, call) {
      for await (const e of exchange.subscribe(req.filters, call.signal)) {
        yield { timestamp: e.timestamp, namespace: e.namespace, topic: e.topic, event: e.event };
      }
    },
  };
}
