// A typed plugin registry: each subsystem registers a type, an id and what it requires;
// the daemon initialises them in dependency order and introspection reports the graph.

export interface PluginInfo {
  type: string;
  id: string;
  requires: string[];
  exports: Record<string, string>;
  capabilities: string[];
  /** Set when init failed; the daemon keeps running without the plugin. */
  initError?: string;
}

export interface PluginRegistration<T> {
  type: string;
  id: string;
  requires?: string[];
  capabilities?: string[];
  init(get: <U>(type: string, id: string) => U): Promise<{ instance: T; exports?: Record<string, string> }>;
}

export class PluginRegistry {
  private readonly registrations: PluginRegistration<unknown>[] = [];
  private readonly instances = new Map<string, unknown>();
  readonly plugins: PluginInfo[] = [];

  register<T>(reg: PluginRegistration<T>): void {
    this.registrations.push(reg as PluginRegistration<unknown>);
  }

  get<T>(type: string, id: string): T {
    const key = `${type}.${id}`;
    if (!this.instances.has(key)) throw new Error(`plugin ${key} is not loaded`);
    return this.instances.get(key) as T;
  }

  /** Initialises every plugin, each after those of the types it requires. */
  async init(onError: (info: PluginInfo, err: unknown) => void): Promise<void> {
    const pending = [...this.registrations];
    for (let guard = 0; pending.length > 0 && guard < 1000; guard++) {
      const idx = pending.findIndex((r) =>
        (r.requires ?? []).every((t) => !pending.some((p) => p !== r && p.type === t)),
      );
      if (idx < 0)
        throw new Error(
          `plugin dependency cycle among ${pending.map((p) => `${p.type}.${p.id}`).join(", ")}`,
        );
      const reg = pending.splice(idx, 1)[0]!;
      const info: PluginInfo = {
        type: reg.type,
        id: reg.id,
        requires: reg.requires ?? [],
        exports: {},
        capabilities: reg.capabilities ?? [],
      };
      try {
        const { instance, exports } = await reg.init((t, i) => this.get(t, i));
        this.instances.set(`${reg.type}.${reg.id}`, instance);
        info.exports = exports ?? {};
      } catch (err) {
        info.initError = err instanceof Error ? err.message : String(err);
        onError(info, err);
      }
      this.plugins.push(info);
    }
  }
}
