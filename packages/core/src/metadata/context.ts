// The per-request context that stores read: the namespace (from the request metadata,
// never a method argument of the wire API) and the lease new resources join.
import { failedPrecondition, invalidArgument } from "@berth/client/errdefs";

export interface RequestContext {
  namespace: string;
  /** Lease id from `containerd-lease` metadata, or "" for none. */
  lease: string;
  signal?: AbortSignal;
}

const namespacePattern = /^[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*$/;

/** Validates a namespace name as containerd does (a DNS-label-like identifier, at most 76 chars). */
export function validateNamespace(name: string): string {
  if (name === "") throw failedPrecondition("namespace is required: set the containerd-namespace metadata");
  if (name.length > 76 || !namespacePattern.test(name)) {
    throw invalidArgument(
      `namespace ${JSON.stringify(name)} is invalid: use letters, digits, '.', '_' and '-'`,
    );
  }
  return name;
}

export function requireNamespace(ctx: RequestContext): string {
  return validateNamespace(ctx.namespace);
}

export const nowMs = (): number => Date.now();
