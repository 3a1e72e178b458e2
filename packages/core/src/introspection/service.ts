import type { IntrospectionServiceImplementation } from "@berth/api/containerd/services/introspection/v1/introspection";
import { parseFilters, recordGetter } from "../filters/filters.js";
import type { PluginRegistry } from "../plugin/registry.js";

const platform = {
  os: "linux",
  architecture: process.arch === "x64" ? "amd64" : process.arch === "arm64" ? "arm64" : process.arch,
  variant: "",
};

export function introspectionService(
  registry: PluginRegistry,
  uuid: string,
): IntrospectionServiceImplementation {
  return {
    async plugins(req) {
      const f = parseFilters(req.filters);
      return {
        plugins: registry.plugins
          .filter((p) => f.match(recordGetter({ type: p.type, id: p.id }, {})))
          .map((p) => ({
            type: p.type,
            id: p.id,
            requires: p.requires,
            platforms: p.type.includes("snapshotter") || p.type.includes("runtime") ? [platform] : [],
            exports: p.exports,
            capabilities: p.capabilities,
            initErr: p.initError ? { code: 2, message: p.initError, details: [] } : undefined,
          })),
      };
    },
    async server() {
      return { uuid };
    },
  };
}
