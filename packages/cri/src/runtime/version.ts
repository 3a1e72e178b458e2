// Version: who answers CRI. kubelet checks runtime_api_version ("v1").
import type { VersionRequest, VersionResponse } from "@berth/api/cri/runtime/v1/api";

/** The kubelet-facing API version string CRI runtimes report. */
const KUBE_API_VERSION = "0.1.0";
export const RUNTIME_NAME = "berth";
export const RUNTIME_VERSION = "0.1.0";

export async function version(_req: VersionRequest): Promise<VersionResponse> {
  return {
    version: KUBE_API_VERSION,
    runtimeName: RUNTIME_NAME,
    runtimeVersion: RUNTIME_VERSION,
    runtimeApiVersion: "v1",
  };
}
