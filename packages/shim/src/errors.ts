import { Code, TtrpcError } from "@berth/ttrpc/status";

// containerd's error kinds (errdefs), as the status codes the daemon maps back to them.

export const notFound = (message: string): TtrpcError => new TtrpcError(Code.NOT_FOUND, message);
export const alreadyExists = (message: string): TtrpcError => new TtrpcError(Code.ALREADY_EXISTS, message);
export const failedPrecondition = (message: string): TtrpcError =>
  new TtrpcError(Code.FAILED_PRECONDITION, message);
export const invalidArgument = (message: string): TtrpcError =>
  new TtrpcError(Code.INVALID_ARGUMENT, message);
export const unimplemented = (message: string): TtrpcError => new TtrpcError(Code.UNIMPLEMENTED, message);
export const unknown = (message: string): TtrpcError => new TtrpcError(Code.UNKNOWN, message);

/** The message of anything thrown. */
export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
