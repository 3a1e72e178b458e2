// containerd's filter syntax. A request's filters are OR'ed; each filter is a
// comma-separated list of selectors that are AND'ed:
//
//   selector  := fieldpath [operator value]
//   fieldpath := field ("." field)*        field := [A-Za-z0-9_]+ | "quoted"
//   operator  := "==" | "!=" | "~="        value := "quoted" | [^\s,]+
//
// Quoted strings take Go's escapes. A regexp value (`~=`) may also be quoted with `|…|`
// or `/…/`, which Docker uses (`topic~=|^/tasks/|`); `==` and `!=` take only `"…"`.
// A selector without an operator tests that the field is present.
import { invalidArgument } from "@berth/client/errdefs";

export type FieldGetter = (path: string[]) => string | undefined;

export type Operator = "present" | "==" | "!=" | "~=";

interface Selector {
  path: string[];
  op: Operator;
  value: string;
  regexp?: RegExp;
}

export interface Filter {
  match(get: FieldGetter): boolean;
}

type TokenKind = "field" | "value" | "quoted" | "separator" | "operator" | "eof";

interface Token {
  kind: TokenKind;
  /** Position of the token's first character in the input. */
  pos: number;
  text: string;
}

const isFieldChar = (c: string) => /^[A-Za-z0-9_]$/.test(c);
const isSpace = (c: string) => /^\s$/u.test(c);
const QUOTES = new Set(['"', "|", "/"]);
const SIMPLE_ESCAPES: Record<string, string> = {
  a: "\x07",
  b: "\b",
  f: "\f",
  n: "\n",
  r: "\r",
  t: "\t",
  v: "\v",
  "\\": "\\",
};

class FilterSyntaxError extends Error {
  constructor(
    readonly pos: number,
    what: string,
  ) {
    super(what);
  }
}

/** Splits a filter into tokens; after an operator, the next unquoted word is a value. */
class Scanner {
  #pos = 0;
  #afterOperator = false;
  #peeked: Token | undefined;

  constructor(readonly input: string) {}

  peek(): Token {
    this.#peeked ??= this.#scan();
    return this.#peeked;
  }

  next(): Token {
    const t = this.peek();
    this.#peeked = undefined;
    return t;
  }

  #scan(): Token {
    const s = this.input;
    while (this.#pos < s.length && isSpace(s[this.#pos] ?? "")) this.#pos++;
    const pos = this.#pos;
    const c = s[pos];
    if (c === undefined) return { kind: "eof", pos, text: "" };
    if (c === "\0") throw new FilterSyntaxError(pos, "unexpected null character");
    if (QUOTES.has(c)) {
      this.#pos = this.#endOfQuoted(pos, c);
      this.#afterOperator = false;
      return { kind: "quoted", pos, text: s.slice(pos, this.#pos) };
    }
    if (c === "," || c === ".") {
      this.#pos++;
      this.#afterOperator = false;
      return { kind: "separator", pos, text: c };
    }
    if (c === "=" || c === "!" || c === "~") {
      while ("=!~".includes(s[this.#pos] ?? " ")) this.#pos++;
      this.#afterOperator = true;
      return { kind: "operator", pos, text: s.slice(pos, this.#pos) };
    }
    if (this.#afterOperator) {
      while (this.#pos < s.length && s[this.#pos] !== "," && !isSpace(s[this.#pos] ?? "")) this.#pos++;
      this.#afterOperator = false;
      return { kind: "value", pos, text: s.slice(pos, this.#pos) };
    }
    if (isFieldChar(c)) {
      while (isFieldChar(s[this.#pos] ?? "")) this.#pos++;
      return { kind: "field", pos, text: s.slice(pos, this.#pos) };
    }
    throw new FilterSyntaxError(pos, `unexpected ${JSON.stringify(c)}`);
  }

  /** The index just past the closing quote of a quoted string starting at `start`. */
  #endOfQuoted(start: number, quote: string): number {
    const s = this.input;
    let i = start + 1;
    for (;;) {
      const c = s[i];
      if (c === undefined || c === "\n") throw new FilterSyntaxError(start, "quoted string not terminated");
      if (c === quote) return i + 1;
      i += c === "\\" ? 2 : 1;
    }
  }
}

function hexRun(s: string, at: number, n: number, base: number, pos: number): number {
  const digits = s.slice(at, at + n);
  const re = base === 8 ? /^[0-7]+$/ : /^[0-9A-Fa-f]+$/;
  if (digits.length !== n || !re.test(digits))
    throw new FilterSyntaxError(pos, "bad numeric escape sequence");
  return Number.parseInt(digits, base);
}

/** The text of a quoted token, its escapes resolved as Go's strconv.Unquote does. */
function unquote(token: Token): string {
  const quote = token.text[0] ?? "";
  const body = token.text.slice(1, -1);
  let out = "";
  for (let i = 0; i < body.length; i++) {
    const c = body[i] ?? "";
    if (c !== "\\") {
      out += c;
      continue;
    }
    const e = body[++i] ?? "";
    const pos = token.pos + i;
    if (e in SIMPLE_ESCAPES) out += SIMPLE_ESCAPES[e];
    else if (e === quote) out += quote;
    else if (e === "x" || e === "u" || e === "U") {
      const n = e === "x" ? 2 : e === "u" ? 4 : 8;
      const code = hexRun(body, i + 1, n, 16, pos);
      if (code > 0x10ffff) throw new FilterSyntaxError(pos, "escaped character beyond Unicode");
      out += String.fromCodePoint(code);
      i += n;
    } else if (/[0-7]/.test(e)) {
      const code = hexRun(body, i, 3, 8, pos);
      if (code > 255) throw new FilterSyntaxError(pos, "octal escape above \\377");
      out += String.fromCharCode(code);
      i += 2;
    } else throw new FilterSyntaxError(pos, `unknown escape sequence \\${e}`);
  }
  return out;
}

/** Go's leading inline flags ((?i), (?s), (?m), (?is)…) as JavaScript RegExp flags. */
function compileRegexp(value: string, pos: number): RegExp {
  const m = /^\(\?([ims]+)\)/.exec(value);
  const flags = m ? [...new Set(m[1])].join("") : "";
  try {
    return new RegExp(m ? value.slice(m[0].length) : value, flags);
  } catch (err) {
    throw new FilterSyntaxError(
      pos,
      `bad regular expression ${JSON.stringify(value)}: ${(err as Error).message}`,
    );
  }
}

class Parser {
  readonly #s: Scanner;

  constructor(readonly input: string) {
    this.#s = new Scanner(input);
  }

  selectors(): Selector[] {
    const out = [this.#selector()];
    for (;;) {
      const t = this.#s.next();
      if (t.kind === "eof") return out;
      if (t.kind !== "separator" || t.text !== ",") {
        throw new FilterSyntaxError(t.pos, `unexpected ${JSON.stringify(t.text)}, expected "," or the end`);
      }
      out.push(this.#selector());
    }
  }

  #selector(): Selector {
    const path = [this.#field()];
    while (this.#s.peek().kind === "separator" && this.#s.peek().text === ".") {
      this.#s.next();
      path.push(this.#field());
    }
    const t = this.#s.peek();
    if (t.kind === "eof" || t.kind === "separator") return { path, op: "present", value: "" };
    this.#s.next();
    if (t.kind !== "operator") {
      throw new FilterSyntaxError(
        t.pos,
        `expected an operator ("==", "!=" or "~="), got ${JSON.stringify(t.text)}`,
      );
    }
    if (t.text !== "==" && t.text !== "!=" && t.text !== "~=") {
      throw new FilterSyntaxError(
        t.pos,
        `unsupported operator ${JSON.stringify(t.text)} (use "==", "!=" or "~=")`,
      );
    }
    const op = t.text;
    const v = this.#s.next();
    let value: string;
    if (v.kind === "value" || v.kind === "field") value = v.text;
    else if (v.kind === "quoted") {
      if (op !== "~=" && v.text[0] !== '"') {
        throw new FilterSyntaxError(
          v.pos,
          `${v.text[0]}…${v.text[0]} quotes only a regular expression (~=); use "…"`,
        );
      }
      value = unquote(v);
    } else throw new FilterSyntaxError(v.pos, `expected a value after ${op}`);
    if (op === "~=") return { path, op, value, regexp: compileRegexp(value, v.pos) };
    return { path, op, value };
  }

  #field(): string {
    const t = this.#s.next();
    if (t.kind === "field") return t.text;
    if (t.kind === "quoted" && t.text[0] === '"') return unquote(t);
    throw new FilterSyntaxError(t.pos, `expected a field name or a "quoted" one, got ${describe(t)}`);
  }
}

function describe(t: Token): string {
  return t.kind === "eof" ? "the end" : JSON.stringify(t.text);
}

function matches(sel: Selector, get: FieldGetter): boolean {
  const v = get(sel.path);
  // As containerd: an absent field compares as "" for != and ~=.
  switch (sel.op) {
    case "present":
      return v !== undefined;
    case "==":
      return v !== undefined && v === sel.value;
    case "!=":
      return (v ?? "") !== sel.value;
    case "~=":
      return sel.regexp?.test(v ?? "") ?? false;
  }
}

/** Parses one filter string. An empty string matches everything. */
export function parseFilter(input: string): Filter {
  if (input.trim() === "") return { match: () => true };
  let selectors: Selector[];
  try {
    selectors = new Parser(input).selectors();
  } catch (err) {
    if (!(err instanceof FilterSyntaxError)) throw err;
    const mark = `${input.slice(0, err.pos)} >|${input.slice(err.pos, err.pos + 1)}|< ${input.slice(err.pos + 1)}`;
    throw invalidArgument(`filter ${JSON.stringify(input)}: ${err.message} at position ${err.pos} [${mark}]`);
  }
  return { match: (get) => selectors.every((sel) => matches(sel, get)) };
}

/** Parses a list of filters (OR'ed). An empty list matches everything. */
export function parseFilters(inputs: readonly string[]): Filter {
  const filters = inputs.filter((f) => f.trim() !== "").map(parseFilter);
  return { match: (get) => filters.length === 0 || filters.some((f) => f.match(get)) };
}

/** A getter over a plain record: `labels` resolves into a label map, other keys by name. */
export function recordGetter(
  fields: Record<string, string | undefined>,
  labels: Record<string, string> = {},
): FieldGetter {
  return (path) => {
    const [head, ...rest] = path;
    if (head === "labels") {
      if (rest.length === 0) return Object.keys(labels).length > 0 ? "" : undefined;
      return labels[rest.join(".")];
    }
    if (head === undefined) return undefined;
    // Nested fields are looked up by their dotted path ("target.digest").
    return fields[path.join(".")];
  };
}
