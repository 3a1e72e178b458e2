// gRPC's health service (grpc.health.v1.Health) as grpc-go's health server answers it:
// the server as a whole ("") is SERVING from the start, as containerd's is; an unknown
// service is NOT_FOUND to Check and SERVICE_UNKNOWN to Watch, which stays open for changes.
import {
  type HealthServiceImplementation,
  HealthCheckResponse_ServingStatus as ServingStatus,
} from "@berth/api/grpc/health/v1/health";
import { ServerError, Status } from "nice-grpc-common";

export { ServingStatus };

/** The serving status of each service name a daemon reports, watched by Watch calls. */
export class HealthStatus {
  readonly #statuses = new Map<string, ServingStatus>([["", ServingStatus.SERVING]]);
  readonly #watchers = new Set<() => void>();
  #shutDown = false;

  get(service: string): ServingStatus | undefined {
    return this.#statuses.get(service);
  }

  /** Sets a service's status; ignored once shut down, as grpc-go's is. */
  set(service: string, status: ServingStatus): void {
    if (this.#shutDown) return;
    this.#update(service, status);
  }

  /** Every service NOT_SERVING from now on, for a daemon on its way out. */
  shutdown(): void {
    this.#shutDown = true;
    for (const service of this.#statuses.keys()) this.#update(service, ServingStatus.NOT_SERVING);
  }

  #update(service: string, status: ServingStatus): void {
    this.#statuses.set(service, status);
    for (const wake of this.#watchers) wake();
  }

  /** Resolves at the next change or when `signal` aborts. */
  changed(signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        this.#watchers.delete(done);
        signal.removeEventListener("abort", done);
        resolve();
      };
      this.#watchers.add(done);
      signal.addEventListener("abort", done);
    });
  }
}

export function healthService(health: HealthStatus): HealthServiceImplementation {
  return {
    async check({ service }) {
      const status = health.get(service);
      if (status === undefined)
        throw new ServerError(Status.NOT_FOUND, `unknown service ${JSON.stringify(service)}`);
      return { status };
    },
    async *watch({ service }, { signal }) {
      let sent: ServingStatus | undefined;
      while (!signal.aborted) {
        const status = health.get(service) ?? ServingStatus.SERVICE_UNKNOWN;
        if (status !== sent) {
          yield { status };
          sent = status;
        }
        await health.changed(signal);
      }
    },
  };
}
