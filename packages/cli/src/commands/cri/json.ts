// JSON the way crictl prints it: protobuf's JSON mapping of CRI messages with default
// values included (64-bit integers as strings, bytes as base64, enums by name), and for
// inspect-style commands the status next to the runtime's verbose info, keys sorted.

import type { Output } from "../../command.js";
import { rfc3339Nano } from "./format.js";

/** Enum fields of a message by field name, to print their values by name. */
export type EnumNames = Readonly<Record<string, (value: number) => string>>;

/**
 * protojson of a ts-proto message (EmitDefaultValues: zero values, empty lists and maps
 * included; unset messages left out). ts-proto objects carry every field, in the order
 * the .proto declares them, under its JSON name.
 */
export function protoJson(value: unknown, enums: EnumNames = {}): unknown {
  if (typeof value === "bigint") return value.toString();
  if (value instanceof Uint8Array) return Buffer.from(value).toString("base64");
  if (Array.isArray(value)) return value.map((v) => protoJson(v, enums));
  if (typeof value === "object" && value !== null) {
    const out: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(value)) {
      if (v === undefined) continue;
      const names = enums[key];
      out[key] = names !== undefined && typeof v === "number" ? names(v) : protoJson(v, enums);
    }
    return out;
  }
  return value;
}

/** The same value with the keys of every object sorted, as Go's encoding/json prints maps. */
export function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((k) => [k, sortKeys((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}

/**
 * crictl's inspect output for one object: `status` and each entry of the runtime's info
 * map beside it (JSON objects parsed, other values as text), keys sorted.
 */
export function statusDocument(status: unknown, info: Readonly<Record<string, string>>): unknown {
  const doc: Record<string, unknown> = {};
  if (status !== undefined) doc.status = status;
  for (const [key, value] of Object.entries(info)) {
    if (value.startsWith("{")) {
      try {
        doc[key] = JSON.parse(value);
        continue;
      } catch {
        // Not JSON after all: shown as text.
      }
    }
    doc[key] = value.replace(/^"+|"+$/g, "");
  }
  return sortKeys(doc);
}

/** Several documents are printed as one array, a single one on its own (as crictl does). */
export function writeDocuments(out: Output, docs: readonly unknown[]): void {
  writeJson(out, docs.length === 1 ? docs[0] : docs);
}

export function writeJson(out: Output, value: unknown): void {
  out.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** `json` (an object) with these CRI timestamps replaced by RFC 3339 text, as crictl shows them. */
export function rfc3339Times(
  json: unknown,
  times: Readonly<Record<string, bigint>>,
  offsetMinutes?: number,
): unknown {
  if (typeof json !== "object" || json === null) return json;
  const out: Record<string, unknown> = { ...json };
  for (const [key, ns] of Object.entries(times)) out[key] = rfc3339Nano(ns, offsetMinutes);
  return out;
}
