import { createRequire } from "node:module";

let lib: typeof import("yaml") | undefined;

/**
 * The yaml package, loaded on first call. Reading a sops file never needs it (the fast path in
 * sops/stores/yaml-fast.ts reads what sops writes), and loading it is a sixth of a CLI start
 * (README "Start-up"). Synchronous, since the stores are: it is required, not imported (the
 * package ships CommonJS for Node).
 */
export function yamlLib(): typeof import("yaml") {
  lib ??= createRequire(import.meta.url)("yaml") as typeof import("yaml");
  return lib;
}
