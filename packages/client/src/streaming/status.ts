// How an exec or attach ended, as the error stream tells the client. Protocol v4 (and
// WebSocket v4/v5) sends a JSON metav1.Status in every case, with the exit code as a cause
// that kubectl turns into its own exit code; the older protocols send the error text only,
// and nothing on success. The server writes it (errorStreamPayload), clients read it
// (resultFromErrorStream).

export type RemoteCommandResult =
  | { kind: "success" }
  | { kind: "exit"; code: number; message: string }
  | { kind: "error"; message: string };

interface StatusCause {
  reason?: string;
  message?: string;
}

/** metav1.Status with Go's field order and omitempty, as kubelet marshals it. */
interface Status {
  metadata: Record<string, never>;
  status: "Success" | "Failure";
  message?: string;
  reason?: string;
  details?: { causes: StatusCause[] };
  code?: number;
}

export const NON_ZERO_EXIT_CODE_REASON = "NonZeroExitCode";
export const EXIT_CODE_CAUSE = "ExitCode";

function toStatus(result: RemoteCommandResult): Status {
  switch (result.kind) {
    case "success":
      return { metadata: {}, status: "Success" };
    case "exit":
      return {
        metadata: {},
        status: "Failure",
        message: `command terminated with non-zero exit code: ${result.message}`,
        reason: NON_ZERO_EXIT_CODE_REASON,
        details: { causes: [{ reason: EXIT_CODE_CAUSE, message: String(result.code) }] },
      };
    case "error":
      return {
        metadata: {},
        status: "Failure",
        message: `Internal error occurred: ${result.message}`,
        reason: "InternalError",
        details: { causes: [{ message: result.message }] },
        code: 500,
      };
  }
}

/** What the error stream carries under `protocol`; undefined: nothing is written. */
export function errorStreamPayload(result: RemoteCommandResult, jsonStatus: boolean): Buffer | undefined {
  const status = toStatus(result);
  if (jsonStatus) return Buffer.from(JSON.stringify(status));
  if (status.status === "Success") return undefined;
  return Buffer.from(status.message ?? "");
}

/**
 * What a v4 error stream's whole content says. An empty stream is a success (the stream
 * closed with nothing to report); text that is not a Status is an error in its own words.
 */
export function resultFromErrorStream(payload: Buffer): RemoteCommandResult {
  const text = payload.toString("utf8").trim();
  if (text === "") return { kind: "success" };
  let status: Partial<Status>;
  try {
    status = JSON.parse(text) as Partial<Status>;
  } catch {
    return { kind: "error", message: text };
  }
  if (typeof status !== "object" || status === null) return { kind: "error", message: text };
  if (status.status === "Success") return { kind: "success" };
  const message = typeof status.message === "string" && status.message !== "" ? status.message : text;
  if (status.reason === NON_ZERO_EXIT_CODE_REASON) {
    const cause = status.details?.causes?.find((c) => c.reason === EXIT_CODE_CAUSE);
    const code = Number(cause?.message);
    if (cause !== undefined && Number.isInteger(code) && code > 0 && code < 256) {
      return { kind: "exit", code, message };
    }
  }
  return { kind: "error", message };
}
