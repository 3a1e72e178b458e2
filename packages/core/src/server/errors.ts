// One place maps error kinds to gRPC status codes for every service.
import { BerthError, GrpcCode, toGrpcCode } from "@berth/client/errdefs";
import { type CallContext, ServerError, type ServerMiddlewareCall, Status } from "nice-grpc-common";

export interface ErrorLogger {
  error(msg: string, meta?: Record<string, unknown>): void;
}

function toServerError(err: unknown, path: string, log: ErrorLogger): ServerError {
  if (err instanceof ServerError) return err;
  if (err instanceof BerthError) return new ServerError(err.code as Status, err.message);
  if (typeof err === "object" && err !== null && "name" in err && err.name === "AbortError") {
    return new ServerError(Status.CANCELLED, "request cancelled");
  }
  const code = toGrpcCode(err);
  if (code === GrpcCode.UNKNOWN)
    log.error("request failed", { method: path, error: String(err), stack: (err as Error)?.stack });
  return new ServerError(code as Status, err instanceof Error ? err.message : String(err));
}

export function errorMiddleware(log: ErrorLogger) {
  return async function* <Request, Response>(
    call: ServerMiddlewareCall<Request, Response>,
    context: CallContext,
  ) {
    try {
      return yield* call.next(call.request, context);
    } catch (err) {
      throw toServerError(err, call.method.path, log);
    }
  };
}
