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
