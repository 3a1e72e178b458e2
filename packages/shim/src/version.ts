/** The shim's version, reported by `-v` and by the Connect call. */
export const VERSION = "0.1.0";
