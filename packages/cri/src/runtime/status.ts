// Status: RuntimeReady when the daemon answers, NetworkReady when a CNI config is there.
// Verbose adds berth-cri's config, the CNI config in use and, under containerd's keys, whether
// loading it worked ("OK" or why not), which is where users look when NetworkReady is false.
import type { StatusRequest, StatusResponse } from "@berth/api/cri/runtime/v1/api";
import { errorMessage } from "@berth/client";
import type { Cri } from "../cri.js";
import { loadCniConfig } from "../network/cni.js";

export async function status(cri: Cri, req: StatusRequest): Promise<StatusResponse> {
  let runtimeReady = true;
  let runtimeMessage = "";
  try {
    await cri.containerd.version.version({}, { signal: AbortSignal.timeout(5_000) });
  } catch (err) {
    runtimeReady = false;
    runtimeMessage = `the daemon at ${cri.containerd.address} does not answer: ${errorMessage(err)}`;
  }
  const net = await cri.cni.status();
  const info: Record<string, string> = {};
  if (req.verbose) {
    // Registry passwords stay out of what any CRI client can read.
    const auth = Object.fromEntries(
      Object.entries(cri.config.registry.auth ?? {}).map(([host, c]) => [
        host,
        { username: c.username, password: "<redacted>" },
      ]),
    );
    info.config = JSON.stringify({ ...cri.config, registry: { ...cri.config.registry, auth } });
    info.cniconfig = JSON.stringify(
      (await loadCniConfig(cri.config.cni.confDir).catch(() => undefined)) ?? null,
    );
    info.podCIDR = cri.podCidr;
    const cniLoadStatus = net.ready ? "OK" : net.message;
    info.lastCNILoadStatus = cniLoadStatus;
    info["lastCNILoadStatus.default"] = cniLoadStatus;
  }
  return {
    status: {
      conditions: [
        {
          type: "RuntimeReady",
          status: runtimeReady,
          reason: runtimeReady ? "" : "ContainerdUnavailable",
          message: runtimeMessage,
        },
        { type: "NetworkReady", status: net.ready, reason: net.reason, message: net.message },
      ],
    },
    info,
  };
}
