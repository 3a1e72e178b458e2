// Calls berth-cri does not serve yet, each failing with a message that says why.
import type { CheckpointContainerRequest } from "@berth/api/cri/runtime/v1/api";
import { notImplemented } from "@berth/client";
import { streamingUnimplemented } from "../errors.js";

export async function exec(): Promise<never> {
  throw streamingUnimplemented("Exec");
}

export async function attach(): Promise<never> {
  throw streamingUnimplemented("Attach");
}

export async function portForward(): Promise<never> {
  throw streamingUnimplemented("PortForward");
}

export async function checkpointContainer(req: CheckpointContainerRequest): Promise<never> {
  throw notImplemented(
    `CheckpointContainer of ${req.containerId || "a container"} is not supported: berth-cri has no CRIU integration`,
  );
}
