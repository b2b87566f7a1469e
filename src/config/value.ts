import { isAlias, isMap, isScalar, isSeq, type Node, parseDocument } from "yaml";
import { BootMetaError, ExitCode } from "../errors.js";
import { resolvePlain } from "../sops/formats/go-yaml-scalars.js";
import { yamlStore } from "../sops/formats/yaml.js";
import { Branch, type Value } from "../sops/tree.js";

/** The type a value is stored with, as `config set` reports it. */
export type ValueType = "string" | "int" | "float" | "bool" | "null" | "list" | "map";

export interface TypedValue {
  value: Value;
  type: ValueType;
  /** Why a part of the text was kept as a string although it looked like a number. */
  notes: string[];
}

export function typeOf(v: Value): ValueType {
  if (v === null) return "null";
  if (v instanceof Branch) return "map";
  if (Array.isArray(v)) return "list";
  if (typeof v === "bigint") return "int";
  if (typeof v === "number") return "float";
  if (typeof v === "boolean") return "bool";
  return "string";
}

const MAX_DEPTH = 100;

/**
 * Types a value given on the command line as YAML (go-yaml, as sops) types it: `8080` is an
 * int, `1.5` a float, `true` a bool, `null`/`~` null, `[1, 2]` a list, `{a: 1}` a map, anything
 * else a string; an empty VALUE is the empty string. A number is stored as one only when it
 * reads back as the same text: `1.10` would come back as `1.1`, `0755` as `493`, so such text
 * is kept as a string and `notes` says so (write `1.1` to store the float). Throws
 * `CONFIG_BAD_VALUE` for a flow collection that is not valid YAML.
 */
export function parseCliValue(text: string, o: { asString?: boolean } = {}): TypedValue {
  if (o.asString || text === "") return { value: text, type: "string", notes: [] };
  const notes: string[] = [];
  const trimmed = text.trim();
  const value = trimmed.startsWith("[") || trimmed.startsWith("{") ? flowValue(text, notes) : scalar(text, notes);
  return { value, type: typeOf(value), notes };
}

function scalar(text: string, notes: string[]): Value {
  let r: ReturnType<typeof resolvePlain>;
  try {
    r = resolvePlain(text);
  } catch {
    // Beyond 64 bits: sops cannot hold it as an int.
    notes.push(`${text} is kept as a string: it is too large for a 64-bit integer`);
    return text;
  }
  if (r.kind === "str") return text;
  if (r.kind === "null") return null;
  if (r.kind === "bool") return r.value;
  const shown = Buffer.from(yamlStore.emitValue(r.value)).toString("utf8").trimEnd();
  if (shown === text) return r.value;
  notes.push(`${text} is kept as the string "${text}": as ${r.kind === "int" ? "an int" : "a float"} it would be stored as ${shown}; write ${shown} to store the number`);
  return text;
}

function flowValue(text: string, notes: string[]): Value {
  const kind = text.trim().startsWith("[") ? "list" : "map";
  const doc = parseDocument(text, { schema: "failsafe", uniqueKeys: true, merge: false, strict: true, prettyErrors: false });
  const problem = doc.errors[0]?.message.split("\n")[0] ?? doc.warnings[0]?.message.split("\n")[0];
  if (problem) throw badValue(kind, problem);
  return convert(doc.contents as Node | null, kind, notes, 0);
}

function convert(n: Node | null, kind: string, notes: string[], depth: number): Value {
  if (depth > MAX_DEPTH) throw badValue(kind, `it nests more than ${MAX_DEPTH} levels deep`);
  if (n === null) return null;
  if (isAlias(n)) throw badValue(kind, "it uses an alias (*name), which a command-line value has no need for");
  if (isScalar(n)) {
    const text = String(n.value ?? "");
    return n.type === "PLAIN" ? (text === "" ? null : scalar(text, notes)) : text;
  }
  if (isSeq(n)) return n.items.map((it) => convert(it as Node | null, kind, notes, depth + 1));
  if (isMap(n)) {
    const b = new Branch();
    for (const pair of n.items) {
      const k = pair.key as Node | null;
      if (!isScalar(k)) throw badValue(kind, "a key is not a plain string");
      b.items.push({ key: String(k.value ?? ""), value: convert(pair.value as Node | null, kind, notes, depth + 1) });
    }
    return b;
  }
  throw badValue(kind, "it is not a list or a map");
}

function badValue(kind: string, why: string): BootMetaError {
  // Never the value itself: it may be a secret.
  return new BootMetaError("CONFIG_BAD_VALUE", `the value looks like a YAML flow ${kind} but is not one: ${why}`, ExitCode.InvalidArgument, {
    suggestions: [`write a ${kind} like ${kind === "list" ? "'[1, 2, three]'" : "'{host: db, port: 5432}'"} (quote it for the shell)`, "or pass --string to store the text as it is"],
  });
}

/** How `config set` names what it stored: the value itself only for numbers, bools and null (strings may be secrets). */
export function describeValue(t: TypedValue): string {
  const v = t.value;
  if (t.type === "string") return `(string, ${[...(v as string)].length} characters)`;
  if (t.type === "list") return `(list of ${(v as Value[]).length})`;
  if (t.type === "map") return `(map of ${(v as Branch).keys().length} key${(v as Branch).keys().length === 1 ? "" : "s"})`;
  if (t.type === "null") return "= null (null: the key is removed from the merged config, whatever the layers below say)";
  return `= ${Buffer.from(yamlStore.emitValue(v)).toString("utf8").trimEnd()} (${t.type})`;
}
