// From a gRPC call to the stores' RequestContext: namespace and lease travel in metadata.
import type { CallContext } from "nice-grpc-common";
import type { RequestContext } from "../metadata/context.js";

export const namespaceHeader = "containerd-namespace";
export const leaseHeader = "containerd-lease";

export function requestContext(call: CallContext): RequestContext {
  return {
    namespace: call.metadata.get(namespaceHeader) ?? "",
    lease: call.metadata.get(leaseHeader) ?? "",
    signal: call.signal,
  };
}
