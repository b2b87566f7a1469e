import type { EvaluationContext } from "@openfeature/core";
import { BootMetaError, ExitCode } from "../errors.js";
import { readUserFile } from "../io.js";
import { decodeUtf8 } from "../limits.js";
import { parseYamlValue } from "../yaml.js";

/**
 * What `flags set` and `flags eval` take on the command line, parsed: JSON for
 * `--json-value`, `--context-json` and `--default`, a flagd flag file (JSON or YAML) for
 * `--file`. Errors name the flag the text came from, never the text (it may be a secret).
 */

export function parseJsonArg(text: string, flag: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new BootMetaError("INVALID_ARGUMENT", `${flag} is not valid JSON: ${(e as Error).message.split("\n")[0]}`, ExitCode.InvalidArgument, {
      suggestions: [`quote it for the shell: ${flag} '{"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on"}'`],
    });
  }
}

/** A flag definition from a file: JSON or YAML (a JSON file is YAML too). */
export async function readDefinitionFile(path: string): Promise<unknown> {
  const text = decodeUtf8(await readUserFile(path), path);
  return parseYamlValue(text, path, (why) => new BootMetaError("INVALID_ARGUMENT", `${path} is neither JSON nor YAML: ${why}`, ExitCode.InvalidArgument));
}

/** `--context key=value …` (strings) over `--context-json` (typed). */
export function parseContext(pairs: readonly string[] | undefined, json: string | undefined): EvaluationContext {
  const ctx: EvaluationContext = {};
  if (json !== undefined) {
    const v = parseJsonArg(json, "--context-json");
    if (typeof v !== "object" || v === null || Array.isArray(v)) throw new BootMetaError("INVALID_ARGUMENT", "--context-json must be a JSON object of context keys", ExitCode.InvalidArgument, { suggestions: [`e.g. --context-json '{"plan": "pro", "seats": 12}'`] });
    Object.assign(ctx, v);
  }
  for (const p of pairs ?? []) {
    const eq = p.indexOf("=");
    if (eq <= 0) throw new BootMetaError("INVALID_ARGUMENT", `--context ${JSON.stringify(p)} is not key=value`, ExitCode.InvalidArgument, { suggestions: ["e.g. --context email=ann@example.com (values are strings; typed values go in --context-json)"] });
    ctx[p.slice(0, eq)] = p.slice(eq + 1);
  }
  return ctx;
}

export type FlagTypeName = "boolean" | "string" | "number" | "object";

/** `--default` as the requested type, as an SDK's default value would be. */
export function parseDefault(text: string | undefined, type: FlagTypeName | undefined): unknown {
  if (text === undefined) return undefined;
  const wrong = (what: string) => new BootMetaError("INVALID_ARGUMENT", `--default must be ${what} for --type ${type}`, ExitCode.InvalidArgument);
  switch (type) {
    case "string":
      return text;
    case "boolean":
      if (text !== "true" && text !== "false") throw wrong("true or false");
      return text === "true";
    case "number": {
      const n = Number(text);
      if (text.trim() === "" || !Number.isFinite(n)) throw wrong("a number");
      return n;
    }
    case "object": {
      const v = parseJsonArg(text, "--default");
      if (typeof v !== "object" || v === null) throw wrong("a JSON object");
      return v;
    }
    default:
      // No type: JSON when it reads as JSON (true, 42, {"a": 1}), else the text.
      try {
        return JSON.parse(text);
      } catch {
        return text;
      }
  }
}
