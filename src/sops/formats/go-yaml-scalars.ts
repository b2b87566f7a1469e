import { malformed } from "./errors.js";

/**
 * How go-yaml v3 resolves a scalar decoded into interface{} (resolve.go), which is what sops
 * sees — not YAML 1.2 core, not 1.1: `0755` is octal 493, `1_000` is 1000, `yes` is a
 * string, timestamps stay strings, only true/True/TRUE and false/False/FALSE are bools.
 */
export type Resolved = { kind: "null" } | { kind: "bool"; value: boolean } | { kind: "int"; value: bigint } | { kind: "float"; value: number } | { kind: "str" };

const NULLS = new Set(["", "~", "null", "Null", "NULL"]);
const INT64_MAX = 9223372036854775807n;
const INT64_MIN = -9223372036854775808n;
const UINT64_MAX = 18446744073709551615n;
const YAML_FLOAT = /^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$/;

/** strconv.ParseInt(s, 0, 64) / ParseUint: sign, 0x / 0o / 0b / leading-0 octal / decimal. */
function goParseIntBase0(s: string): bigint | undefined {
  const m = /^([+-]?)(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)$/.exec(s);
  if (!m) return undefined;
  const [, sign, body = ""] = m;
  let digits = body;
  if (/^0[0-7]+$/.test(body)) digits = `0o${body.slice(1)}`;
  const n = BigInt(digits.toLowerCase());
  return sign === "-" ? -n : n;
}

function int(n: bigint, text: string): Resolved | undefined {
  if (n >= INT64_MIN && n <= INT64_MAX) return { kind: "int", value: n };
  // go-yaml yields a uint64 there, which sops cannot walk.
  if (n >= 0n && n <= UINT64_MAX) throw malformed("YAML", `the integer ${text} does not fit in 64 signed bits, which sops cannot handle; quote it to keep it as a string`);
  return undefined; // beyond uint64: go-yaml falls through to the float rule
}

// Every rule below needs one of these first: anything else is a string (sops' ENC[…] values
// and most keys, so the common case costs one lookup).
const RULE_STARTS = new Set("-+.0123456789~nNtTfF");
const STR: Resolved = Object.freeze({ kind: "str" });

export function resolvePlain(s: string): Resolved {
  if (s !== "" && !RULE_STARTS.has(s[0] as string)) return STR;
  if (NULLS.has(s)) return { kind: "null" };
  if (s === "true" || s === "True" || s === "TRUE") return { kind: "bool", value: true };
  if (s === "false" || s === "False" || s === "FALSE") return { kind: "bool", value: false };
  if (/^[-+]?\.(inf|Inf|INF)$/.test(s)) return { kind: "float", value: s.startsWith("-") ? -Infinity : Infinity };
  if (/^\.(nan|NaN|NAN)$/.test(s)) return { kind: "float", value: NaN };
  const c = s[0] as string;
  if (c === ".") {
    if (/^\.[0-9]+([eE][-+]?[0-9]+)?$/.test(s)) return { kind: "float", value: Number(s) };
    return { kind: "str" };
  }
  if (!/[-+0-9]/.test(c)) return { kind: "str" };
  if (isTimestamp(s)) return { kind: "str" };
  const plain = s.replaceAll("_", "");
  const n = goParseIntBase0(plain);
  const i = n === undefined ? undefined : int(n, s);
  if (i) return i;
  if (YAML_FLOAT.test(plain)) {
    const f = Number(plain);
    // ParseFloat fails out of range; go-yaml then keeps the text as a string.
    return Number.isFinite(f) ? { kind: "float", value: f } : { kind: "str" };
  }
  return { kind: "str" };
}

/** go-yaml's parseTimestamp formats (resolve.go allowedTimestampFormats). */
export function isTimestamp(s: string): boolean {
  return /^\d{4}-\d{1,2}-\d{1,2}(?:(?:[Tt]| +)\d{1,2}:\d{2}:\d{2}(?:\.\d*)?(?: *(?:Z|[+-]\d{1,2}(?::\d{2})?))?)?$/.test(s);
}

/** Resolution under an explicit tag (`!!int "5"`): go-yaml fails when the text does not fit. */
export function resolveTagged(tag: string, s: string): Resolved | "binary" | undefined {
  const short = tag.replace(/^tag:yaml\.org,2002:/, "!!");
  switch (short) {
    case "!!str":
    case "!!timestamp":
      return { kind: "str" };
    case "!!binary":
      return "binary";
    case "!!null":
    case "!!bool":
    case "!!int":
    case "!!float": {
      const r = resolvePlain(s);
      const want = short.slice(2);
      if (r.kind === want) return r;
      if (want === "float" && r.kind === "int") return { kind: "float", value: Number(r.value) };
      throw malformed("YAML", `cannot decode ${JSON.stringify(s)} as ${short}`);
    }
    default:
      return undefined; // a custom tag: the text as a string
  }
}
