// ListMetricDescriptors and ListPodSandboxMetrics (kubelet's CRI-provided cAdvisor
// metrics, alpha in 1.26): berth-cri describes none yet, so kubelet keeps using cAdvisor.
import type {
  ListMetricDescriptorsRequest,
  ListMetricDescriptorsResponse,
  ListPodSandboxMetricsRequest,
  ListPodSandboxMetricsResponse,
} from "@berth/api/cri/runtime/v1/api";

export async function listMetricDescriptors(
  _req: ListMetricDescriptorsRequest,
): Promise<ListMetricDescriptorsResponse> {
  return { descriptors: [] };
}

export async function listPodSandboxMetrics(
  _req: ListPodSandboxMetricsRequest,
): Promise<ListPodSandboxMetricsResponse> {
  return { podMetrics: [] };
}
