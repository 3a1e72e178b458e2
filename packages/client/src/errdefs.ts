// Error kinds shared by berthd, its clients and berth-cri. Stores throw these; the gRPC
// and ttrpc layers map kinds to status codes in one place (toGrpcCode / fromGrpcCode).

export type ErrorKind =
  | "InvalidArgument"
  | "NotFound"
  | "AlreadyExists"
  | "FailedPrecondition"
  | "Unavailable"
  | "NotImplemented"
  | "Aborted"
  | "OutOfRange"
  | "DeadlineExceeded"
  | "Canceled"
  | "ResourceExhausted"
  | "DataLoss"
  | "Unknown";

/** gRPC numeric status codes. */
export const GrpcCode = {
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

const kindToCode: Record<ErrorKind, number> = {
  InvalidArgument: GrpcCode.INVALID_ARGUMENT,
  NotFound: GrpcCode.NOT_FOUND,
  AlreadyExists: GrpcCode.ALREADY_EXISTS,
  FailedPrecondition: GrpcCode.FAILED_PRECONDITION,
  Unavailable: GrpcCode.UNAVAILABLE,
  NotImplemented: GrpcCode.UNIMPLEMENTED,
  Aborted: GrpcCode.ABORTED,
  OutOfRange: GrpcCode.OUT_OF_RANGE,
  DeadlineExceeded: GrpcCode.DEADLINE_EXCEEDED,
  Canceled: GrpcCode.CANCELLED,
  ResourceExhausted: GrpcCode.RESOURCE_EXHAUSTED,
  DataLoss: GrpcCode.DATA_LOSS,
  Unknown: GrpcCode.UNKNOWN,
};

/** An error of a known kind. `code` is the gRPC status code, so transports can read it directly. */
export class BerthError extends Error {
  readonly kind: ErrorKind;
  readonly code: number;
  constructor(kind: ErrorKind, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "BerthError";
    this.kind = kind;
    this.code = kindToCode[kind];
  }
}

export const invalidArgument = (msg: string) => new BerthError("InvalidArgument", msg);
export const notFound = (msg: string) => new BerthError("NotFound", msg);
export const alreadyExists = (msg: string) => new BerthError("AlreadyExists", msg);
export const failedPrecondition = (msg: string) => new BerthError("FailedPrecondition", msg);
export const unavailable = (msg: string) => new BerthError("Unavailable", msg);
export const notImplemented = (msg: string) => new BerthError("NotImplemented", msg);
export const aborted = (msg: string) => new BerthError("Aborted", msg);

export function isKind(err: unknown, kind: ErrorKind): boolean {
  return errorKind(err) === kind;
}
export const isNotFound = (err: unknown) => isKind(err, "NotFound");
export const isAlreadyExists = (err: unknown) => isKind(err, "AlreadyExists");

/** The kind of any error: ours, a gRPC/ttrpc error carrying a numeric code, or Unknown. */
export function errorKind(err: unknown): ErrorKind {
  if (err instanceof BerthError) return err.kind;
  if (typeof err === "object" && err !== null && "code" in err && typeof err.code === "number") {
    return fromGrpcCode(err.code);
  }
  return "Unknown";
}

export function toGrpcCode(err: unknown): number {
  return kindToCode[errorKind(err)];
}

export function fromGrpcCode(code: number): ErrorKind {
  for (const [kind, c] of Object.entries(kindToCode)) if (c === code) return kind as ErrorKind;
  if (code === GrpcCode.PERMISSION_DENIED || code === GrpcCode.UNAUTHENTICATED) return "FailedPrecondition";
  return "Unknown";
}

/** Message of any thrown value, for logs and wrapped errors. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
