// containerd's filter syntax: a list of filters is OR'ed; each filter is a comma-separated
// list of selectors that are AND'ed; a selector is `fieldpath`, `fieldpath==value`,
// `fieldpath!=value` or `fieldpath~=regexp`. A fieldpath is dot-separated identifiers or
// quoted strings (`labels."io.example/key"`); values may be quoted too.
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

class Scanner {
  pos = 0;
  constructor(readonly input: string) {}
  get done(): boolean {
    return this.pos >= this.input.length;
  }
  peek(): string {
    return this.input[this.pos] ?? "";
  }
  skipSpace(): void {
    while (!this.done && /\s/.test(this.peek())) this.pos++;
  }
  fail(what: string): never {
    throw invalidArgument(`filter "${this.input}": ${what} at position ${this.pos}`);
  }
  quoted(): string {
    const quote = this.peek();
    this.pos++;
    let out = "";
    while (!this.done && this.peek() !== quote) {
      let ch = this.peek();
      if (ch === "\\") {
        this.pos++;
        ch = this.peek();
        const escapes: Record<string, string> = {
          n: "\n",
          t: "\t",
          r: "\r",
          "\\": "\\",
          '"': '"',
          "'": "'",
          "/": "/",
        };
        ch = escapes[ch] ?? ch;
      }
      out += ch;
      this.pos++;
    }
    if (this.done) this.fail("unterminated quoted string");
    this.pos++;
    return out;
  }
  fieldComponent(): string {
    this.skipSpace();
    const ch = this.peek();
    if (ch === '"' || ch === "`") return this.quoted();
    const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(this.input.slice(this.pos));
    if (!m) this.fail("expected a field name");
    this.pos += m[0].length;
    return m[0];
  }
  value(): string {
    this.skipSpace();
    const ch = this.peek();
    if (ch === '"' || ch === "`" || ch === "'") return this.quoted();
    const m = /^[^,|\s]+/.exec(this.input.slice(this.pos));
    if (!m) this.fail("expected a value");
    this.pos += m[0].length;
    return m[0];
  }
}

function parseSelector(s: Scanner): Selector {
  const path = [s.fieldComponent()];
  while (s.peek() === ".") {
    s.pos++;
    path.push(s.fieldComponent());
  }
  s.skipSpace();
  const rest = s.input.slice(s.pos);
  for (const op of ["==", "!=", "~="] as const) {
    if (rest.startsWith(op)) {
      s.pos += 2;
      const value = s.value();
      if (op === "~=") {
        try {
          return { path, op, value, regexp: new RegExp(value) };
        } catch (err) {
          s.fail(`bad regular expression ${JSON.stringify(value)}: ${(err as Error).message}`);
        }
      }
      return { path, op, value };
    }
  }
  if (rest.startsWith("=")) s.fail('unknown operator "=" (use ==)');
  return { path, op: "present", value: "" };
}

/** Parses one filter string. An empty string matches everything. */
export function parseFilter(input: string): Filter {
  const s = new Scanner(input);
  const selectors: Selector[] = [];
  s.skipSpace();
  while (!s.done) {
    selectors.push(parseSelector(s));
    s.skipSpace();
    if (s.done) break;
    if (s.peek() !== ",") s.fail(`unexpected ${JSON.stringify(s.peek())}`);
    s.pos++;
    s.skipSpace();
  }
  return {
    match(get) {
      return selectors.every((sel) => {
        const v = get(sel.path);
        switch (sel.op) {
          case "present":
            return v !== undefined;
          case "==":
            return v === sel.value;
          case "!=":
            return v !== sel.value;
          case "~=":
            return v !== undefined && sel.regexp!.test(v);
        }
      });
    },
  };
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
    if (head === undefined || rest.length > 0) return undefined;
    return fields[head];
  };
}
