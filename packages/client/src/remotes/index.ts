export {
  type CredentialsHint,
  RegistryAuthorizer,
  basicAuthorization,
  hostsConfigHint,
  parseWwwAuthenticate,
} from "./auth.js";
export type { AuthChallenge, FetchFunction } from "./auth.js";
export {
  DOCKER_HUB_HOST,
  loadHostsConfig,
  parseHostsConfig,
  registryEndpoints,
  validateHostsConfig,
} from "./hosts.js";
export type {
  EndpointOptions,
  EndpointTls,
  HostsConfig,
  RegistryCredentials,
  RegistryEndpoint,
} from "./hosts.js";
export {
  HOST_CAPABILITIES,
  checkHostsDir,
  hostDirCandidates,
  hostsDirEndpoints,
  hostsDirRegistryEndpoints,
  isLocalhost,
  loadHostsDir,
  parseHostsToml,
  readEndpointTls,
} from "./hosts-dir.js";
export type { HostCapability, HostEntry, HostsDirOptions } from "./hosts-dir.js";
export {
  DEFAULT_DOMAIN,
  DEFAULT_TAG,
  formatReference,
  parseReference,
  referenceHostname,
  referenceName,
  referenceObject,
} from "./reference.js";
export type { Reference } from "./reference.js";
export { Pusher } from "./pusher.js";
export { RegistryClient } from "./registry.js";
export { Fetcher, MAX_MANIFEST_BYTES, Resolver, sniffManifestType } from "./resolver.js";
export type { ResolvedImage, ResolverOptions } from "./resolver.js";
