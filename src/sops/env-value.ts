import { BootMetaError, ExitCode } from "../errors.js";
import { formatGoFloatG } from "./cipher.js";
import { Branch, Comment, SopsTime, type Value } from "./tree.js";

/**
 * sops' ValToString (stores/stores.go:589-607), how flat formats and exec-env write a
 * scalar: floats 'G' with ".0" forced on integral values, bools lower case, time RFC 3339.
 * Maps and lists cannot be written flat.
 */
export function valueToEnvString(v: Value, key: string): string {
  if (v === null) return "";
  if (typeof v === "string") return v;
  if (typeof v === "bigint") return v.toString();
  if (typeof v === "boolean") return v ? "true" : "false";
  if (typeof v === "number") {
    const s = formatGoFloatG(v, true);
    return /^-?\d+$/.test(s) ? `${s}.0` : s;
  }
  if (v instanceof Uint8Array) return Buffer.from(v).toString("utf8");
  if (v instanceof SopsTime) return v.text;
  if (v instanceof Comment) return v.text;
  throw new BootMetaError("SOPS_NOT_FLAT", `${JSON.stringify(key)} holds a ${v instanceof Branch || !Array.isArray(v) ? "map" : "list"}; a flat format (dotenv, INI, environment) can only hold scalars`, ExitCode.General, {
    data: { key },
  });
}
