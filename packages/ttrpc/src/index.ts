export { TtrpcClient, createTtrpcClient } from "./client.js";
export type { CallOptions, ConnectOptions, ServiceClientOptions, TtrpcServiceClient } from "./client.js";
export type {
  MessageCodec,
  MessageOf,
  MethodDefinition,
  PartialMessageOf,
  ServiceDefinition,
  UnaryMethodKey,
} from "./definition.js";
export {
  Flags,
  FrameParser,
  HEADER_LENGTH,
  MAX_PAYLOAD_LENGTH,
  MessageType,
  decodeHeader,
  encodeFrame,
  encodeHeader,
} from "./frame.js";
export type { FrameHandlers, FrameHeader } from "./frame.js";
export { NAMESPACE_METADATA_KEY, mergeMetadata, namespaceMetadata } from "./metadata.js";
export type { Metadata, MetadataInit } from "./metadata.js";
export { TtrpcServer } from "./server.js";
export type { CallContext, ServiceImplementation, TtrpcServerOptions } from "./server.js";
export { Code, TtrpcError, codeName, statusFromError } from "./status.js";
