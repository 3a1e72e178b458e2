import type { VersionServiceImplementation } from "@berth/api/containerd/services/version/v1/version";

export const berthVersion = "1.6.20-berth.0.1.0";
export const berthRevision = "berth";

export function versionService(): VersionServiceImplementation {
  return {
    async version() {
      return { version: berthVersion, revision: berthRevision };
    },
  };
}
