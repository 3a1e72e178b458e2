// A pause image for tests: the busybox image of the fixtures with a config whose command
// sleeps until SIGTERM, pushed next to it through the registry's HTTP API (the layer is
// already in the repository; only the config and manifest are new).
import { createHash } from "node:crypto";
import type { PushedImage } from "../fixtures/images.js";

const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
const OCI_CONFIG = "application/vnd.oci.image.config.v1+json";

const sha256 = (b: Buffer) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

export const PAUSE_COMMAND = ["sh", "-c", "trap 'exit 0' TERM; sleep 2147483647 & wait"];

async function ok(res: Response, what: string): Promise<Response> {
  if (!res.ok) throw new Error(`${what}: HTTP ${res.status} ${await res.text()}`);
  return res;
}

/** Pushes `<host>/<base.name>:<tag>` with the pause command; returns its reference. */
export async function pushPauseImage(base: PushedImage, tag = "pause"): Promise<string> {
  const url = `http://${base.host}/v2/${base.name}`;
  const signal = AbortSignal.timeout(30_000);
  const manifest = (await (
    await ok(
      await fetch(`${url}/manifests/${base.manifestDigest}`, { headers: { Accept: OCI_MANIFEST }, signal }),
      "get manifest",
    )
  ).json()) as { config: { digest: string; size: number; mediaType: string }; layers: unknown[] };
  const config = (await (
    await ok(await fetch(`${url}/blobs/${manifest.config.digest}`, { signal }), "get config")
  ).json()) as {
    config?: Record<string, unknown>;
  };
  config.config = { ...(config.config ?? {}), Cmd: PAUSE_COMMAND, Entrypoint: null };
  const configBytes = Buffer.from(JSON.stringify(config));
  const configDigest = sha256(configBytes);
  const start = await ok(await fetch(`${url}/blobs/uploads/`, { method: "POST", signal }), "start upload");
  const location = new URL(start.headers.get("location") ?? "", `http://${base.host}`);
  location.searchParams.set("digest", configDigest);
  await ok(
    await fetch(location, {
      method: "PUT",
      body: configBytes,
      headers: { "Content-Type": "application/octet-stream" },
      signal,
    }),
    "upload config",
  );
  const newManifest = {
    ...manifest,
    mediaType: OCI_MANIFEST,
    config: { mediaType: OCI_CONFIG, digest: configDigest, size: configBytes.length },
  };
  await ok(
    await fetch(`${url}/manifests/${tag}`, {
      method: "PUT",
      body: JSON.stringify(newManifest),
      headers: { "Content-Type": OCI_MANIFEST },
      signal,
    }),
    "put manifest",
  );
  return `${base.host}/${base.name}:${tag}`;
}
