// Version: who answers CRI. kubelet checks runtime_api_version ("v1").
import type { VersionRequest, VersionResponse } from "@berth/api/cri/runtime/v1/api";
import { buildInfo } from "@berth/client/build-info";

/** The kubelet-facing API version string CRI runtimes report. */
const KUBE_API_VERSION = "0.1.0";
export const RUNTIME_NAME = "berth";
/** Berth's version (the root package.json's). */
export const RUNTIME_VERSION = buildInfo().version;

export async function version(_req: VersionRequest): Promise<VersionResponse> {
  return {
    version: KUBE_API_VERSION,
    runtimeName: RUNTIME_NAME,
    runtimeVersion: RUNTIME_VERSION,
    runtimeApiVersion: "v1",
  };
}
