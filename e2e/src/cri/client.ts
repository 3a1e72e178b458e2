// A small CRI v1 client for tests: RuntimeService and ImageService on berth-cri's socket.
import { ImageServiceDefinition, RuntimeServiceDefinition } from "@berth/api/cri/runtime/v1/api";
import { createChannel, createClient } from "nice-grpc";

export function criClient(address: string) {
  const channel = createChannel(`unix://${address}`);
  return {
    runtime: createClient(RuntimeServiceDefinition, channel),
    images: createClient(ImageServiceDefinition, channel),
    close: () => channel.close(),
  };
}

export type CriClient = ReturnType<typeof criClient>;

/** Stops and removes every pod the runtime lists, ignoring failures: a test's clean-up. */
export async function removePodsQuietly(client: CriClient): Promise<void> {
  const pods = await client.runtime.listPodSandbox({}).catch(() => ({ items: [] }));
  for (const p of pods.items) {
    await client.runtime.stopPodSandbox({ podSandboxId: p.id }).catch(() => undefined);
    await client.runtime.removePodSandbox({ podSandboxId: p.id }).catch(() => undefined);
  }
}
