import { readdirSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import protobuf from "protobufjs";

const PROTO_DIR = fileURLToPath(new URL("../../proto/", import.meta.url));
let root: protobuf.Root | undefined;

/**
 * The record messages as protobufjs's reflection reads them from the .proto files: an
 * independent reader, in tests only, to hold the generated codec to the schema.
 */
export function protoMessages(): protobuf.Type[] {
  if (!root) {
    const r = new protobuf.Root();
    const require = createRequire(import.meta.url);
    // Imports resolve against proto/, as with `protoc -Iproto`.
    r.resolvePath = (_origin, target) => (target.startsWith("google/protobuf/") ? require.resolve(`protobufjs/${target}`) : `${PROTO_DIR}${target}`);
    // Every .proto under proto/, as the generator (scripts/gen-records.mjs) reads them.
    const files = readdirSync(PROTO_DIR, { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith(".proto")).map((f) => f.split("\\").join("/")).sort();
    root = r.loadSync(files);
    root.resolveAll();
  }
  return (root.lookup("bootmeta.v1") as protobuf.Namespace).nestedArray.filter((t): t is protobuf.Type => t instanceof protobuf.Type);
}

export function protoType(kind: string): protobuf.Type {
  const t = protoMessages().find((m) => m.name === kind);
  if (!t) throw new Error(`no message ${kind} in proto/bootmeta/v1`);
  return t;
}

/** Whether the .proto marks a field [(required) = true]. */
export const markedRequired = (f: protobuf.Field): boolean => f.options?.["(required)"] === true || f.options?.["(bootmeta.v1.required)"] === true;
