// GetContainerEvents: a stream of container lifecycle events for kubelet's evented PLEG.
import type { ContainerEventResponse, GetEventsRequest } from "@berth/api/cri/runtime/v1/api";
import type { Cri } from "../cri.js";

export async function* getContainerEvents(
  cri: Cri,
  _req: GetEventsRequest,
  signal: AbortSignal,
): AsyncGenerator<ContainerEventResponse> {
  yield* cri.events.subscribe(signal);
}
