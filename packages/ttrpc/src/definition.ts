// The subset of ts-proto's generic service definitions that ttrpc needs. Generated definitions
// (`VersionDefinition`, the shim's `TaskDefinition`, …) are assignable to ServiceDefinition.

/** A generated message namespace: `Empty`, `VersionResponse`, … */
export interface MessageCodec {
  encode(message: unknown): { finish(): Uint8Array };
  decode(input: Uint8Array): unknown;
  fromPartial(object: unknown): unknown;
}

export interface MethodDefinition {
  /** The method's name on the wire, e.g. "Version". */
  readonly name: string;
  readonly requestType: MessageCodec;
  readonly requestStream: boolean;
  readonly responseType: MessageCodec;
  readonly responseStream: boolean;
}

export interface ServiceDefinition {
  /** The fully qualified service name used on the wire, e.g. "containerd.task.v2.Task". */
  readonly fullName: string;
  readonly methods: { readonly [key: string]: MethodDefinition };
}

/** The decoded message type of a codec. */
export type MessageOf<C> = C extends { decode(input: Uint8Array): infer T } ? T : never;
/** What a codec's fromPartial accepts: the message with every field optional. */
export type PartialMessageOf<C> = C extends { fromPartial(object: infer P): unknown } ? P : never;

/** Keys of the methods that are unary; streaming methods are neither served nor callable (not implemented). */
export type UnaryMethodKey<D extends ServiceDefinition> = {
  [K in keyof D["methods"]]: D["methods"][K] extends { requestStream: true } | { responseStream: true }
    ? never
    : K;
}[keyof D["methods"]];
