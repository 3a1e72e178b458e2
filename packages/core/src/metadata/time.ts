// Record times with containerd's nanosecond precision. A JavaScript Date holds
// milliseconds; the nanoseconds below them ride along as `subMillisecondNanos`, which the
// generated protobuf Timestamp conversion reads and writes. Records store a time as an
// RFC 3339 string with nine fractional digits; records written before hold a number of
// milliseconds, which still reads.

/** A Date that may carry the nanoseconds below its millisecond (0..999999). */
export type PreciseDate = Date & { subMillisecondNanos?: number };

/** A time as a record holds it: RFC 3339 with nanoseconds, or (older records) milliseconds. */
export type StoredTime = string | number;

// The wall clock at start plus the monotonic clock since: nanosecond resolution, as Go's
// time.Now() has, without reading the wall clock's microseconds twice.
const originNs = BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint();
let lastNs = 0n;

/** Nanoseconds since the epoch, never the same twice in this process. */
export function nowNanos(): bigint {
  let ns = originNs + process.hrtime.bigint();
  if (ns <= lastNs) ns = lastNs + 1n;
  lastNs = ns;
  return ns;
}

/** The current time as a record stores it. */
export function nowStored(): string {
  return formatNanos(nowNanos());
}

/** RFC 3339 in UTC with nine fractional digits, as Go's time.RFC3339Nano before trimming. */
export function formatNanos(ns: bigint): string {
  const ms = ns / 1_000_000n;
  const iso = new Date(Number(ms)).toISOString(); // 2026-12-02T19:50:00.123Z
  const subMs = (((ns % 1_000_000n) + 1_000_000n) % 1_000_000n).toString().padStart(6, "0");
  return `${iso.slice(0, -1)}${subMs}Z`;
}

/** A stored time as a Date carrying its nanoseconds. */
export function fromStored(value: StoredTime): PreciseDate {
  if (typeof value === "number") return new Date(value);
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/.exec(value);
  if (!m) return new Date(value);
  const fraction = (m[2] ?? "").padEnd(9, "0");
  const date: PreciseDate = new Date(`${m[1]}.${fraction.slice(0, 3)}${m[3]}`);
  const subMillisecondNanos = Number(fraction.slice(3));
  return subMillisecondNanos === 0 ? date : Object.assign(date, { subMillisecondNanos });
}

/** A Date (precise or not) as a record stores it. */
export function toStored(date: PreciseDate): string {
  return formatNanos(BigInt(date.getTime()) * 1_000_000n + BigInt(date.subMillisecondNanos ?? 0));
}
