import type { VersionServiceImplementation } from "@berth/api/containerd/services/version/v1/version";
import { buildInfo } from "@berth/client/build-info";

/** The containerd release whose API berthd serves. */
export const CONTAINERD_API_VERSION = "1.6.20";

/**
 * What the Version RPC reports: containerd's version with Berth's as semver build
 * metadata ("1.6.20+berth.0.1.0"), so clients that compare it with semver see 1.6.20
 * (a pre-release "1.6.20-berth…" would sort below 1.6.20), and the real git commit.
 */
export function berthdVersion(): { version: string; revision: string } {
  const { version, revision } = buildInfo();
  return { version: `${CONTAINERD_API_VERSION}+berth.${version}`, revision };
}

export function versionService(): VersionServiceImplementation {
  return {
    async version() {
      return berthdVersion();
    },
  };
}
