import { BootMetaError, ExitCode } from "../errors.js";

export function badArgument(message: string): BootMetaError {
  return new BootMetaError("INVALID_ARGUMENT", message, ExitCode.InvalidArgument);
}

/** `--listen HOST:PORT` (`[::1]:8080`, `127.0.0.1:0` for any free port, or just a port). */
export function parseListen(v: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+))?:?(\d{1,5})$/.exec(v.trim());
  const port = Number(m?.[3]);
  if (!m || port > 65535) throw badArgument(`--listen ${JSON.stringify(v)} is not HOST:PORT (like 127.0.0.1:8080, [::1]:8080 or 0.0.0.0:8080)`);
  return { host: m[1] ?? m[2] ?? "127.0.0.1", port };
}
