import type { Any } from "@berth/api/google/protobuf/any";
import type { Status } from "@berth/api/google/rpc/status";

/** gRPC status codes, as carried in google.rpc.Status.code over ttrpc. */
export const Code = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;
export type Code = (typeof Code)[keyof typeof Code];

const codeNames: readonly string[] = Object.keys(Code);

/** The name of a status code ("NOT_FOUND"), or `CODE(n)` for codes outside the gRPC set. */
export function codeName(code: number): string {
  return codeNames[code] ?? `CODE(${code})`;
}

/** A non-OK call status: thrown by clients, and thrown by handlers to choose the status sent back. */
export class TtrpcError extends Error {
  override name = "TtrpcError";
  readonly code: number;
  readonly details: Any[];

  constructor(code: number, message: string, options?: { details?: Any[]; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options?.details ?? [];
  }

  static fromStatus(status: Status): TtrpcError {
    return new TtrpcError(status.code, status.message, { details: status.details });
  }

  toStatus(): Status {
    return { code: this.code, message: this.message, details: this.details };
  }
}

// Node's errno names for the os errors that upstream maps to specific codes.
const errnoCodes: Readonly<Record<string, Code>> = {
  ENOENT: Code.NOT_FOUND,
  EEXIST: Code.ALREADY_EXISTS,
  EACCES: Code.PERMISSION_DENIED,
  EPERM: Code.PERMISSION_DENIED,
};

/**
 * The status for a value a handler threw: a TtrpcError keeps its code and details, an error with
 * a numeric `code` in the gRPC range keeps that code, aborts and timeouts and a few errno names
 * map the way upstream maps Go's context and os errors, and anything else is UNKNOWN with the
 * error's message.
 */
export function statusFromError(err: unknown): Status {
  if (err instanceof TtrpcError) return err.toStatus();
  if (!(err instanceof Error)) return { code: Code.UNKNOWN, message: String(err), details: [] };
  const status = (code: number): Status => ({ code, message: err.message, details: [] });
  if (err.name === "AbortError") return status(Code.CANCELLED);
  if (err.name === "TimeoutError") return status(Code.DEADLINE_EXCEEDED);
  const code: unknown = (err as { code?: unknown }).code;
  // DOMException's legacy numeric codes are not gRPC codes.
  if (
    typeof code === "number" &&
    !(err instanceof DOMException) &&
    Number.isInteger(code) &&
    code > Code.OK &&
    code <= Code.UNAUTHENTICATED
  ) {
    return status(code);
  }
  if (typeof code === "string") {
    const mapped = errnoCodes[code];
    if (mapped !== undefined) return status(mapped);
  }
  return status(Code.UNKNOWN);
}
