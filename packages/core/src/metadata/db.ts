// Berth's metadata database: one lmdb environment holding every namespaced record
// (namespaces, images, content, ingests, snapshots, leases, containers). Keys are
// arrays whose first element names the record kind, so each kind is a contiguous range.
import { type RootDatabase, open } from "lmdb";

export type Key = (string | number)[];

export interface MetadataDB {
  readonly db: RootDatabase<unknown, Key>;
  get<T>(key: Key): T | undefined;
  /** All records whose key starts with `prefix`, in key order. */
  range<T>(prefix: Key): { key: Key; value: T }[];
  /** Runs `fn` in one write transaction; lmdb commits it atomically and durably. */
  write<T>(fn: () => T): T;
  put(key: Key, value: unknown): void;
  remove(key: Key): void;
  close(): Promise<void>;
}

export function openMetadataDB(path: string): MetadataDB {
  const db = open<unknown, Key>({ path, compression: false, encoding: "msgpack", noMemInit: true });
  return {
    db,
    get<T>(key: Key) {
      return db.get(key) as T | undefined;
    },
    range<T>(prefix: Key) {
      const out: { key: Key; value: T }[] = [];
      for (const { key, value } of db.getRange({ start: prefix })) {
        if (!hasPrefix(key, prefix)) break;
        out.push({ key, value: value as T });
      }
      return out;
    },
    write<T>(fn: () => T): T {
      return db.transactionSync(fn);
    },
    put(key, value) {
      db.putSync(key, value);
    },
    remove(key) {
      db.removeSync(key);
    },
    async close() {
      await db.close();
    },
  };
}

function hasPrefix(key: Key, prefix: Key): boolean {
  if (!Array.isArray(key) || key.length < prefix.length) return false;
  return prefix.every((v, i) => key[i] === v);
}
