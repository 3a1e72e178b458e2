// The one place error kinds become gRPC status codes for every CRI call. Handlers throw
// BerthErrors (or let the daemon's through); anything without a kind is Unknown and logged.
import { BerthError, GrpcCode, notImplemented, toGrpcCode } from "@berth/client";
import type { Logger } from "@berth/client/log";
import { type CallContext, ServerError, type ServerMiddlewareCall, Status } from "nice-grpc-common";

function toServerError(err: unknown, path: string, log: Logger): ServerError {
  if (err instanceof ServerError) return err;
  if (err instanceof BerthError) return new ServerError(err.code as Status, err.message);
  if (typeof err === "object" && err !== null && "name" in err && err.name === "AbortError") {
    return new ServerError(Status.CANCELLED, "request cancelled");
  }
  const code = toGrpcCode(err);
  if (code === GrpcCode.UNKNOWN) {
    log.error("request failed", { method: path, error: String(err), stack: (err as Error)?.stack });
  }
  return new ServerError(code as Status, err instanceof Error ? err.message : String(err));
}

export function errorMiddleware(log: Logger) {
  return async function* <Request, Response>(
    call: ServerMiddlewareCall<Request, Response>,
    context: CallContext,
  ) {
    try {
      return yield* call.next(call.request, context);
    } catch (err) {
      log.debug("call failed", { method: call.method.path, error: String(err) });
      throw toServerError(err, call.method.path, log);
    }
  };
}

/** Exec, Attach and PortForward need the streaming server, which is not there yet. */
export function streamingUnimplemented(call: string): BerthError {
  return notImplemented(
    `${call} is not implemented yet: berth-cri has no streaming server (use ExecSync for commands without a terminal)`,
  );
}
