// A terminal's size as exec and attach clients send it on the resize stream: one JSON
// object per change, with Go's field names (kubectl's TerminalSize).

export interface TerminalSize {
  width: number;
  height: number;
}

export function encodeTerminalSize(size: TerminalSize): Buffer {
  return Buffer.from(JSON.stringify({ Width: size.width, Height: size.height }));
}
