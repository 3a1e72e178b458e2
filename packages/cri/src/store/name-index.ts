// Unique names of sandboxes and containers, as kubelet relies on: a second RunPodSandbox
// or CreateContainer with the same metadata fails with AlreadyExists naming the holder.
import { alreadyExists } from "@berth/client";

export class NameIndex {
  readonly #byName = new Map<string, string>();

  reserve(name: string, id: string): void {
    const holder = this.#byName.get(name);
    if (holder !== undefined && holder !== id) {
      throw alreadyExists(`name "${name}" is reserved for "${holder}"`);
    }
    this.#byName.set(name, id);
  }

  release(name: string): void {
    this.#byName.delete(name);
  }

  releaseId(id: string): void {
    for (const [name, holder] of this.#byName) if (holder === id) this.#byName.delete(name);
  }
}
