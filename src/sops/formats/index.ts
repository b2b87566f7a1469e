import { extname } from "node:path";
import { BootMetaError, ExitCode } from "../../errors.js";
import { binaryStore } from "./binary.js";
import { dotenvStore } from "./dotenv.js";
import { iniStore } from "./ini.js";
import { jsonStore } from "./json.js";
import type { Format, Store } from "./store.js";
import { yamlStore } from "./yaml.js";

export type { EmitOptions, Format, LoadOptions, Store } from "./store.js";

const STORES: Record<Format, Store> = { yaml: yamlStore, json: jsonStore, dotenv: dotenvStore, ini: iniStore, binary: binaryStore };
export const FORMATS = Object.keys(STORES) as Format[];

export function storeFor(format: Format): Store {
  return STORES[format];
}

/** sops' guess from the extension (cmd/sops/formats/formats.go): anything unknown is binary. */
export function formatForPath(path: string): Format {
  switch (extname(path).toLowerCase()) {
    case ".yaml":
    case ".yml":
      return "yaml";
    case ".json":
      return "json";
    case ".env":
      return "dotenv";
    case ".ini":
      return "ini";
    default:
      return "binary";
  }
}

export function parseFormat(name: string): Format {
  if ((FORMATS as string[]).includes(name)) return name as Format;
  throw new BootMetaError("INVALID_ARGUMENT", `unknown format ${JSON.stringify(name)}: expected one of ${FORMATS.join(", ")}`, ExitCode.InvalidArgument);
}
