import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import protobuf from "protobufjs";

const PROTO_DIR = fileURLToPath(new URL("../../proto/", import.meta.url));
let root: protobuf.Root | undefined;

/**
 * A record type as protobufjs's reflection reads it from the .proto files: an independent
 * reader, in tests only, to check the generated codec's binary encoding against.
 */
export function protoType(kind: string): protobuf.Type {
  if (!root) {
    const r = new protobuf.Root();
    const require = createRequire(import.meta.url);
    // Imports resolve against proto/, as with `protoc -Iproto`.
    r.resolvePath = (_origin, target) => (target.startsWith("google/protobuf/") ? require.resolve(`protobufjs/${target}`) : `${PROTO_DIR}${target}`);
    root = r.loadSync("bootmeta/v1/records.proto");
  }
  return root.lookupType(`bootmeta.v1.${kind}`);
}
