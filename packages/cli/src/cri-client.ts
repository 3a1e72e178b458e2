// berthctl's connection to a CRI v1 endpoint (berth-cri, or any CRI runtime): where the
// socket is, the runtime and image service clients on it, and each failed call turned
// into one line saying what went wrong and what to do next.

import { ImageServiceDefinition, RuntimeServiceDefinition } from "@berth/api/cri/runtime/v1/api";
import { BerthError, fromGrpcCode } from "@berth/client";
import {
  type CallOptions,
  type Client,
  ClientError,
  type ClientMiddlewareCall,
  Status,
  createChannel,
  createClientFactory,
} from "nice-grpc";
import { UsageError } from "./command.js";

export const DEFAULT_CRI_ENDPOINT = "/run/berth/cri.sock";
/** The environment variable naming the endpoint when --runtime-endpoint is not given. */
export const CRI_ENDPOINT_ENV = "BERTH_CRI_ENDPOINT";

export type RuntimeClient = Client<typeof RuntimeServiceDefinition>;
export type ImageClient = Client<typeof ImageServiceDefinition>;

export interface CriClient {
  /** The socket path. */
  readonly endpoint: string;
  readonly runtime: RuntimeClient;
  readonly images: ImageClient;
  close(): void;
}

/** The endpoint to use: the option's value, else the environment's, else the default. */
export function criEndpoint(option: string | undefined, env: Readonly<Record<string, string | undefined>>) {
  if (option !== undefined && option !== "") return option;
  const fromEnv = env[CRI_ENDPOINT_ENV];
  return fromEnv !== undefined && fromEnv !== "" ? fromEnv : DEFAULT_CRI_ENDPOINT;
}

/** "/run/x.sock" or "unix:///run/x.sock" → "/run/x.sock"; CRI endpoints here are unix sockets. */
export function endpointPath(endpoint: string): string {
  const m = /^([a-z][a-z0-9+.-]*):\/\/(.*)$/i.exec(endpoint);
  if (m === null) return endpoint;
  const [, scheme = "", rest = ""] = m;
  if (scheme.toLowerCase() !== "unix") {
    throw new UsageError(
      `unsupported runtime endpoint ${JSON.stringify(endpoint)}: give a unix socket, as /run/berth/cri.sock or unix:///run/berth/cri.sock`,
    );
  }
  if (!rest.startsWith("/")) {
    throw new UsageError(
      `runtime endpoint ${JSON.stringify(endpoint)} needs an absolute socket path: unix:///path/to/cri.sock`,
    );
  }
  return rest;
}

// Image lists and verbose statuses can be large; kubelet allows 16 MiB too.
const MAX_MESSAGE_BYTES = 16 << 20;

const UNREACHABLE = /No connection established|ECONNREFUSED|ENOENT|failed to connect|Connection dropped/i;

/** "connect ENOENT /path (...)" → "connect ENOENT". */
function connectFailure(details: string): string {
  const m = /connect (E[A-Z]+)/.exec(details);
  return m !== null ? `connect ${m[1]}` : details;
}

/** "/runtime.v1.RuntimeService/StartContainer" → "StartContainer". */
function methodName(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

/**
 * One line for a failed CRI call. Commands that know more (which container was not found)
 * catch the error by kind and say so; this is what is left for the rest.
 */
export function describeCriFailure(err: ClientError, endpoint: string): string {
  const details = (err.details || err.message).replace(/\s*\n\s*/g, " ").trim();
  const method = methodName(err.path);
  switch (err.code) {
    case Status.UNAVAILABLE:
      if (UNREACHABLE.test(details)) {
        return `cannot reach the CRI runtime at ${endpoint} (${connectFailure(details)}): is berth-cri running? try --runtime-endpoint SOCK or set ${CRI_ENDPOINT_ENV}`;
      }
      return `the CRI runtime at ${endpoint} is unavailable (${details}): check that it is running and see its log`;
    case Status.PERMISSION_DENIED:
      return `no permission to use the CRI socket ${endpoint}: run as root, or as a member of the socket's group`;
    case Status.UNIMPLEMENTED:
      return `${method}: ${details}: the runtime at ${endpoint} does not support it; check its version`;
    case Status.DEADLINE_EXCEEDED:
      return `${method} timed out (${details}): try again, or give it more time where the command has --timeout`;
    case Status.NOT_FOUND:
      return `${details}: see 'berthctl cri pods', 'berthctl cri ps -a' or 'berthctl cri images'`;
    default:
      if (/EACCES|permission denied/i.test(details)) {
        return `no permission to use the CRI socket ${endpoint}: run as root, or as a member of the socket's group`;
      }
      return `the runtime answered ${method}: ${details}: check the runtime's log (berth-cri's, for Berth)`;
  }
}

/** Connects to a CRI endpoint; nothing is sent until the first call. */
export function connectCri(endpoint: string): CriClient {
  const path = endpointPath(endpoint);
  const channel = createChannel(`unix://${path}`, undefined, {
    "grpc.max_receive_message_length": MAX_MESSAGE_BYTES,
    "grpc.max_send_message_length": MAX_MESSAGE_BYTES,
  });
  // Failed calls become BerthErrors of the matching kind whose message is already the
  // line berthctl prints.
  const factory = createClientFactory().use(async function* describeErrors<Request, Response>(
    call: ClientMiddlewareCall<Request, Response>,
    options: CallOptions,
  ) {
    try {
      return yield* call.next(call.request, options);
    } catch (err) {
      if (err instanceof ClientError) {
        throw new BerthError(fromGrpcCode(err.code), describeCriFailure(err, path), {
          cause: new CriCallError(err),
        });
      }
      throw err;
    }
  });
  return {
    endpoint: path,
    runtime: factory.create(RuntimeServiceDefinition, channel),
    images: factory.create(ImageServiceDefinition, channel),
    close: () => channel.close(),
  };
}

/**
 * What the runtime said, kept as the cause of the BerthError a call throws: the gRPC
 * status and its details, without the ClientError class berthctl reads as berthd's.
 */
export class CriCallError extends Error {
  readonly code: Status;
  readonly details: string;
  readonly path: string;
  constructor(err: ClientError) {
    super(err.message);
    this.name = "CriCallError";
    this.code = err.code;
    this.details = err.details;
    this.path = err.path;
  }
}

/** The runtime's own words for a failed call ("container \"x\" not found"), else the message. */
export function runtimeDetails(err: unknown): string {
  if (err instanceof BerthError && err.cause instanceof CriCallError) return err.cause.details;
  return err instanceof Error ? err.message : String(err);
}
