// The YAML that pod and container config files are written in: block mappings and
// sequences, flow [lists] and {maps}, plain and quoted scalars, | and > block scalars and
// comments. Anchors, aliases, tags and multi-document files are refused with a message
// saying so. Plain scalars follow YAML 1.2's core schema (null, booleans, numbers);
// integers beyond 2^53 stay exact as bigints, since CRI's 64-bit fields take them.

export class YamlError extends Error {
  constructor(
    message: string,
    readonly line: number,
  ) {
    super(`line ${line}: ${message}`);
    this.name = "YamlError";
  }
}

export type YamlValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | YamlValue[]
  | { [key: string]: YamlValue };

const UNSUPPORTED = "anchors, aliases and tags are not supported: write the value out, or use JSON";

/** The indentation of a line, or -1 when it holds nothing but spaces or a comment. */
function indentOf(line: string): number {
  const m = /^( *)(.?)/.exec(line);
  const indent = m?.[1]?.length ?? 0;
  const first = m?.[2] ?? "";
  return first === "" || first === "#" ? -1 : indent;
}

/** `text` up to a comment: a # at its start or after a space, outside quotes. */
function stripComment(text: string): string {
  let quote = "";
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote !== "") {
      if (c === "\\" && quote === '"') i++;
      else if (c === quote) quote = "";
    } else if (c === '"' || c === "'") {
      if (i === 0 || /[\s[{,:]/.test(text[i - 1] ?? "")) quote = c;
    } else if (c === "#" && (i === 0 || /\s/.test(text[i - 1] ?? ""))) {
      return text.slice(0, i).trimEnd();
    }
  }
  return text.trimEnd();
}

const ESCAPES: Record<string, string> = {
  "0": "\0",
  a: "\x07",
  b: "\b",
  t: "\t",
  "\t": "\t",
  n: "\n",
  v: "\v",
  f: "\f",
  r: "\r",
  e: "\x1b",
  " ": " ",
  '"': '"',
  "/": "/",
  "\\": "\\",
  N: "\u0085",
  _: "\u00a0",
  L: "\u2028",
  P: "\u2029",
};

/** A plain scalar's value under the core schema. */
export function plainScalar(text: string): YamlValue {
  if (/^(?:~|null|Null|NULL)?$/.test(text)) return null;
  if (/^(?:true|True|TRUE)$/.test(text)) return true;
  if (/^(?:false|False|FALSE)$/.test(text)) return false;
  if (/^[-+]?\d+$/.test(text)) {
    const n = Number(text);
    return Number.isSafeInteger(n) ? n : BigInt(text);
  }
  if (/^0x[0-9a-fA-F]+$/.test(text)) return Number.parseInt(text.slice(2), 16);
  if (/^0o[0-7]+$/.test(text)) return Number.parseInt(text.slice(2), 8);
  if (/^[-+]?(?:\.\d+|\d+(?:\.\d*)?)(?:[eE][-+]?\d+)?$/.test(text)) return Number(text);
  if (/^[-+]?\.(?:inf|Inf|INF)$/.test(text))
    return text.startsWith("-") ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY;
  if (/^\.(?:nan|NaN|NAN)$/.test(text)) return Number.NaN;
  return text;
}

/** Signals that a flow collection goes on past the end of the text given so far. */
class NeedMore extends Error {}

/** A parser of flow collections and quoted scalars over `src`, from `pos`. */
class FlowParser {
  pos = 0;
  constructor(
    readonly src: string,
    readonly line: number,
  ) {}

  fail(message: string): never {
    throw new YamlError(message, this.line);
  }

  skipSpace(): void {
    for (;;) {
      while (this.pos < this.src.length && /\s/.test(this.src[this.pos]!)) this.pos++;
      if (this.src[this.pos] !== "#") return;
      while (this.pos < this.src.length && this.src[this.pos] !== "\n") this.pos++;
    }
  }

  value(inFlow: boolean): YamlValue {
    this.skipSpace();
    const c = this.src[this.pos];
    if (c === undefined) {
      if (inFlow) throw new NeedMore();
      return null;
    }
    if (c === "[") return this.sequence();
    if (c === "{") return this.mapping();
    if (c === '"' || c === "'") return this.quoted();
    if (c === "&" || c === "*" || c === "!") this.fail(UNSUPPORTED);
    return this.plain(inFlow);
  }

  plain(inFlow: boolean): YamlValue {
    const start = this.pos;
    while (this.pos < this.src.length) {
      const c = this.src[this.pos]!;
      const next = this.src[this.pos + 1];
      if (inFlow && (c === "," || c === "]" || c === "}")) break;
      if (c === ":" && (next === undefined || /[\s,\]}]/.test(next))) break;
      if (c === "#" && /\s/.test(this.src[this.pos - 1] ?? "")) break;
      if (c === "\n" && !inFlow) break;
      this.pos++;
    }
    return plainScalar(
      this.src
        .slice(start, this.pos)
        .replace(/\s*\n\s*/g, " ")
        .trim(),
    );
  }

  quoted(): string {
    const quote = this.src[this.pos]!;
    this.pos++;
    let out = "";
    for (;;) {
      const c = this.src[this.pos];
      if (c === undefined) throw new NeedMore();
      this.pos++;
      if (c === quote) {
        if (quote === "'" && this.src[this.pos] === "'") {
          out += "'";
          this.pos++;
          continue;
        }
        return out;
      }
      if (c === "\n") {
        // A line break inside quotes folds into a space, as in YAML.
        out = `${out.trimEnd()} `;
        while (this.src[this.pos] === " " || this.src[this.pos] === "\t") this.pos++;
        continue;
      }
      if (c === "\\" && quote === '"') {
        const e = this.src[this.pos];
        if (e === undefined) throw new NeedMore();
        this.pos++;
        const simple = ESCAPES[e];
        if (simple !== undefined) {
          out += simple;
          continue;
        }
        const digits = e === "x" ? 2 : e === "u" ? 4 : e === "U" ? 8 : 0;
        const hex = this.src.slice(this.pos, this.pos + digits);
        if (digits === 0 || !/^[0-9a-fA-F]+$/.test(hex) || hex.length !== digits) {
          this.fail(`unknown escape \\${e} in a double-quoted string`);
        }
        out += String.fromCodePoint(Number.parseInt(hex, 16));
        this.pos += digits;
        continue;
      }
      out += c;
    }
  }

  sequence(): YamlValue[] {
    this.pos++;
    const out: YamlValue[] = [];
    for (;;) {
      this.skipSpace();
      const c = this.src[this.pos];
      if (c === undefined) throw new NeedMore();
      if (c === "]") {
        this.pos++;
        return out;
      }
      out.push(this.value(true));
      this.skipSpace();
      const sep = this.src[this.pos];
      if (sep === undefined) throw new NeedMore();
      if (sep === ",") this.pos++;
      else if (sep !== "]") this.fail(`expected "," or "]" in a flow sequence, found ${JSON.stringify(sep)}`);
    }
  }

  mapping(): { [key: string]: YamlValue } {
    this.pos++;
    const out: { [key: string]: YamlValue } = {};
    for (;;) {
      this.skipSpace();
      const c = this.src[this.pos];
      if (c === undefined) throw new NeedMore();
      if (c === "}") {
        this.pos++;
        return out;
      }
      const key = this.value(true);
      if (typeof key === "object" && key !== null) this.fail("a mapping key must be a scalar");
      this.skipSpace();
      let value: YamlValue = null;
      if (this.src[this.pos] === ":") {
        this.pos++;
        this.skipSpace();
        const next = this.src[this.pos];
        if (next === undefined) throw new NeedMore();
        if (next !== "," && next !== "}") value = this.value(true);
      }
      const name = String(key);
      if (Object.hasOwn(out, name)) this.fail(`duplicate key ${JSON.stringify(name)}`);
      out[name] = value;
      this.skipSpace();
      const sep = this.src[this.pos];
      if (sep === undefined) throw new NeedMore();
      if (sep === ",") this.pos++;
      else if (sep !== "}") this.fail(`expected "," or "}" in a flow mapping, found ${JSON.stringify(sep)}`);
    }
  }
}

/** Where a block mapping entry's key ends: the index of its ":" (or -1: not an entry). */
function keyEnd(text: string): number {
  if (text.startsWith('"') || text.startsWith("'")) {
    const p = new FlowParser(text, 0);
    try {
      p.quoted();
    } catch {
      return -1;
    }
    const rest = text.slice(p.pos);
    const m = /^\s*:(?=\s|$)/.exec(rest);
    return m === null ? -1 : p.pos + m[0].length - 1;
  }
  if (/^[[{]/.test(text)) return -1;
  const m = /:(?=\s|$)/.exec(stripComment(text));
  return m === null ? -1 : m.index;
}

class BlockParser {
  readonly lines: string[];
  pos = 0;

  constructor(text: string) {
    this.lines = text.replace(/\r\n?/g, "\n").split("\n");
  }

  fail(message: string, line = this.pos + 1): never {
    throw new YamlError(message, line);
  }

  /** Moves to the next line with content; returns its indentation, or -1 at the end. */
  next(): number {
    while (this.pos < this.lines.length) {
      const line = this.lines[this.pos]!;
      if (/^\t/.test(line)) this.fail("tabs cannot indent YAML: use spaces");
      const indent = indentOf(line);
      if (indent >= 0) return indent;
      this.pos++;
    }
    return -1;
  }

  /** Whether the current line starts or ends a document ("---", "..."). */
  atMarker(): boolean {
    return /^(?:---|\.\.\.)(?:\s|$)/.test(this.lines[this.pos] ?? "");
  }

  document(): YamlValue {
    let indent = this.next();
    if (indent === 0 && /^---(?:\s|$)/.test(this.lines[this.pos]!)) {
      const rest = stripComment(this.lines[this.pos]!.slice(3)).trim();
      if (rest !== "") this.fail("write the document on the lines after ---");
      this.pos++;
      indent = this.next();
    }
    if (indent < 0) return null;
    const value = this.node(indent);
    const after = this.next();
    if (after >= 0) {
      const line = this.lines[this.pos]!;
      if (this.atMarker()) {
        this.pos++;
        if (this.next() >= 0) this.fail("only one YAML document per file is supported");
      } else {
        this.fail(`unexpected ${JSON.stringify(line.trim())}: check the indentation`);
      }
    }
    return value;
  }

  /** The node whose first line is the current one, at `indent`. */
  node(indent: number): YamlValue {
    const text = this.lines[this.pos]!.slice(indent);
    if (/^-(?:\s|$)/.test(text)) return this.sequence(indent);
    if (keyEnd(text) >= 0) return this.mapping(indent);
    const line = this.pos + 1;
    const value = this.inline(text, indent);
    if (this.next() > indent) this.fail("a value cannot be followed by more-indented lines", line);
    return value;
  }

  /** A value written after "key:" or "- " on the current line (and maybe the next ones). */
  inline(text: string, parentIndent: number): YamlValue {
    const line = this.pos + 1;
    const trimmed = text.trim();
    if (/^[|>]/.test(trimmed)) return this.blockScalar(trimmed, parentIndent);
    if (/^[&*!]/.test(trimmed)) this.fail(UNSUPPORTED);
    if (/^["'[{]/.test(trimmed)) {
      let src = trimmed;
      for (;;) {
        const p = new FlowParser(src, line);
        try {
          const value = p.value(false);
          p.skipSpace();
          if (p.pos < src.length)
            this.fail(`unexpected ${JSON.stringify(src.slice(p.pos))} after a value`, line);
          this.pos++;
          return value;
        } catch (err) {
          if (!(err instanceof NeedMore)) throw err;
          this.pos++;
          if (this.pos >= this.lines.length) this.fail("unterminated quoted string or flow collection", line);
          src += `\n${this.lines[this.pos]}`;
        }
      }
    }
    this.pos++;
    return plainScalar(stripComment(trimmed));
  }

  blockScalar(header: string, parentIndent: number): string {
    const m = /^([|>])([-+]?)([1-9]?)([-+]?)\s*(?:#.*)?$/.exec(header);
    if (m === null) this.fail(`bad block scalar header ${JSON.stringify(header)}`);
    const folded = m[1] === ">";
    const chomp = m[2] || m[4];
    const explicit = m[3] ? parentIndent + Number(m[3]) : undefined;
    this.pos++;
    const raw: string[] = [];
    let contentIndent = explicit;
    while (this.pos < this.lines.length) {
      const line = this.lines[this.pos]!;
      if (line.trim() === "") {
        raw.push("");
        this.pos++;
        continue;
      }
      const indent = /^ */.exec(line)![0].length;
      contentIndent ??= indent;
      if (indent < contentIndent || indent <= parentIndent) break;
      raw.push(line.slice(contentIndent));
      this.pos++;
    }
    // Trailing blank lines belong to the scalar only for chomping; give back what follows.
    let end = raw.length;
    while (end > 0 && raw[end - 1] === "") end--;
    const body = raw.slice(0, end);
    const trailing = raw.length - end;
    let text = "";
    if (folded) {
      for (let i = 0; i < body.length; i++) {
        const l = body[i]!;
        const prev = body[i - 1];
        if (i === 0) text = l;
        else if (l === "" || prev === "" || /^\s/.test(l) || /^\s/.test(prev ?? "")) text += `\n${l}`;
        else text += ` ${l}`;
      }
      text = text.replace(/\n\n/g, "\n");
    } else {
      text = body.join("\n");
    }
    if (body.length === 0) return chomp === "+" ? "\n".repeat(trailing) : "";
    if (chomp === "-") return text;
    if (chomp === "+") return `${text}\n${"\n".repeat(trailing)}`;
    return `${text}\n`;
  }

  mapping(indent: number): { [key: string]: YamlValue } {
    const out: { [key: string]: YamlValue } = {};
    for (;;) {
      const at = this.next();
      if (at < indent || this.atMarker()) return out;
      if (at > indent) this.fail("unexpected indentation: align the keys of a mapping");
      const lineNo = this.pos + 1;
      const text = this.lines[this.pos]!.slice(indent);
      const end = keyEnd(text);
      if (end < 0) {
        if (/^-(?:\s|$)/.test(text)) this.fail("a list item where a mapping key was expected");
        this.fail(`expected "key: value", found ${JSON.stringify(text.trim())}`);
      }
      const rawKey = text.slice(0, end).trim();
      if (/^[&*!]/.test(rawKey)) this.fail(UNSUPPORTED);
      const key = /^["']/.test(rawKey) ? String(new FlowParser(rawKey, lineNo).quoted()) : rawKey;
      if (key === "?") this.fail("complex mapping keys (?) are not supported");
      if (Object.hasOwn(out, key)) this.fail(`duplicate key ${JSON.stringify(key)}`);
      const rest = stripComment(text.slice(end + 1)).trim();
      if (rest !== "") {
        out[key] = this.inline(text.slice(end + 1), indent);
        continue;
      }
      this.pos++;
      const child = this.next();
      if (child > indent) out[key] = this.node(child);
      else if (child === indent && /^-(?:\s|$)/.test(this.lines[this.pos]!.slice(indent)))
        out[key] = this.sequence(indent);
      else out[key] = null;
    }
  }

  sequence(indent: number): YamlValue[] {
    const out: YamlValue[] = [];
    for (;;) {
      const at = this.next();
      if (at < indent || this.atMarker()) return out;
      const text = this.lines[this.pos]!.slice(indent);
      if (at > indent || !/^-(?:\s|$)/.test(text)) {
        if (at === indent) return out;
        this.fail("unexpected indentation: align the items of a list");
      }
      const content = text.slice(1);
      if (content.trim() === "" || stripComment(content).trim() === "") {
        this.pos++;
        const child = this.next();
        out.push(child > indent ? this.node(child) : null);
        continue;
      }
      // "- |": a block scalar, indented from the list.
      if (/^[|>]/.test(content.trim())) {
        out.push(this.inline(content, indent));
        continue;
      }
      // "- key: value" and "- - x": the rest of the line is a node at its own column.
      const column = indent + 1 + (/^ */.exec(content)?.[0].length ?? 0);
      this.lines[this.pos] = " ".repeat(column) + content.trimStart();
      out.push(this.node(column));
    }
  }
}

/** Parses one YAML document (JSON is YAML too). */
export function parseYaml(text: string): YamlValue {
  return new BlockParser(text).document();
}
