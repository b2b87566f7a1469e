import { badArgument } from "./listen.js";

/** `30s`, `5m`, `1h`, `250ms`, or a plain number of seconds, as milliseconds. */
export function parseDuration(v: string, what: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(v.trim());
  if (!m) throw badArgument(`${what} ${JSON.stringify(v)} is not a duration like 30s, 5m or 1h`);
  const n = Number(m[1]) * ({ ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const)[(m[2] ?? "s") as "ms" | "s" | "m" | "h"];
  if (!Number.isFinite(n) || n <= 0) throw badArgument(`${what} ${JSON.stringify(v)} must be more than zero`);
  return n;
}
