/**
 * The in-memory tree every SOPS store parses a file into and emits from
 * (sops `sops.go`: TreeBranches / TreeBranch / TreeItem).
 *
 * Go's dynamic types map to JS like this, because the type decides the `type:` tag and the
 * bytes that are encrypted and hashed:
 *
 * | sops (Go)   | here                 | ENC type |
 * |-------------|----------------------|----------|
 * | string      | `string`             | str      |
 * | int         | `bigint`             | int      |
 * | float64     | `number`             | float    |
 * | bool        | `boolean`            | bool     |
 * | nil         | `null`               | (never encrypted, not in the MAC) |
 * | []byte      | `Uint8Array`         | bytes (read only) |
 * | time.Time   | {@link SopsTime}     | time (read only in practice) |
 * | Comment     | {@link Comment}      | comment  |
 * | TreeBranch  | {@link Branch}       | (a map)  |
 * | []any       | `Value[]`            | (a list) |
 */

/** A comment line (text after `#` / `;`, leading space kept). */
export class Comment {
  readonly text: string;
  /** A YAML line comment after a scalar (`k: v # c`), sops 3.13+. */
  readonly inline: boolean;
  constructor(text: string, inline = false) {
    this.text = text;
    this.inline = inline;
  }
}

/** A `type:time` value: RFC 3339 text as Go's `time.Time.MarshalText` writes it. */
export class SopsTime {
  readonly text: string;
  constructor(text: string) {
    this.text = text;
  }
}

export type Scalar = string | bigint | number | boolean | null | Uint8Array | SopsTime;
export type Value = Scalar | Comment | Branch | Value[];

/** A map entry, or a comment line standing in a map (a key that is a `Comment` in sops). */
export type Item = { key: string; value: Value } | { comment: Comment };

/** An ordered map. Order is significant: it is the walk order of the MAC. */
export class Branch {
  items: Item[];
  constructor(items: Item[] = []) {
    this.items = items;
  }

  get(key: string): Value | undefined {
    for (const item of this.items) if ("key" in item && item.key === key) return item.value;
    return undefined;
  }

  has(key: string): boolean {
    return this.items.some((i) => "key" in i && i.key === key);
  }

  /** Sets a key in place, or appends it at the end (sops `set` appends missing keys). */
  set(key: string, value: Value): void {
    for (const item of this.items) {
      if ("key" in item && item.key === key) {
        item.value = value;
        return;
      }
    }
    this.items.push({ key, value });
  }

  delete(key: string): boolean {
    const i = this.items.findIndex((it) => "key" in it && it.key === key);
    if (i < 0) return false;
    this.items.splice(i, 1);
    return true;
  }

  keys(): string[] {
    const out: string[] = [];
    for (const item of this.items) if ("key" in item) out.push(item.key);
    return out;
  }
}

/** One branch per YAML document; exactly one for every other format. */
export type Tree = Branch[];

export function isBranch(v: unknown): v is Branch {
  return v instanceof Branch;
}

/**
 * Converts a tree value to plain JS (for JSON output, the config loader, tests):
 * maps → objects (key order kept), ints → number when safe else string,
 * bytes → base64 string, time → its text, comments dropped.
 */
export function toPlain(v: Value): unknown {
  if (v instanceof Branch) {
    const out: Record<string, unknown> = {};
    for (const item of v.items) if ("key" in item) out[item.key] = toPlain(item.value);
    return out;
  }
  if (Array.isArray(v)) return v.filter((x) => !(x instanceof Comment)).map(toPlain);
  if (typeof v === "bigint") return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  if (v instanceof Uint8Array) return Buffer.from(v).toString("base64");
  if (v instanceof SopsTime) return v.text;
  if (v instanceof Comment) return undefined;
  return v;
}

/**
 * Converts plain JS (parsed JSON, CLI input) to a tree value. Integral numbers become ints
 * (`bigint`) unless `floats` says they are floats (sops ≤3.13.1 JSON, `sops set`).
 */
export function fromPlain(v: unknown, opts: { integersAreFloats?: boolean } = {}): Value {
  if (v === null || v === undefined) return null;
  if (Array.isArray(v)) return v.map((x) => fromPlain(x, opts));
  if (typeof v === "number") return Number.isInteger(v) && !opts.integersAreFloats ? BigInt(v) : v;
  if (typeof v === "string" || typeof v === "boolean" || typeof v === "bigint") return v;
  if (v instanceof Uint8Array) return v;
  if (typeof v === "object") {
    return new Branch(Object.entries(v as Record<string, unknown>).map(([key, value]) => ({ key, value: fromPlain(value, opts) })));
  }
  throw new TypeError(`cannot store a ${typeof v} in a SOPS tree`);
}
