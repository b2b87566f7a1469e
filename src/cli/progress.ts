import { redactSecrets } from "../redact.js";

/**
 * A progress line for long operations (keys remove, access sync, verify, access history): one
 * line on standard error, rewritten in place, on a terminal only. Under --json, in CI (`CI`
 * set, as every CI service sets it) or when standard error is a pipe or a file, it writes
 * nothing: logs and scripts get the result, not a stream of carriage returns.
 */
export interface Progress {
  /** Replaces the line. */
  update(line: string): void;
  /** Clears the line: call before printing anything else. */
  done(): void;
  readonly active: boolean;
}

export function progressLine(cmd: { jsonEnabled(): boolean }, o: { stream?: Pick<NodeJS.WriteStream, "write" | "isTTY" | "columns">; env?: NodeJS.ProcessEnv } = {}): Progress {
  const stream = o.stream ?? process.stderr;
  const env = o.env ?? process.env;
  const active = !cmd.jsonEnabled() && stream.isTTY === true && !env.CI;
  let shown = "";
  return {
    active,
    update(line) {
      if (!active) return;
      // One terminal row, never wrapped: a wrapped line cannot be rewritten with \r.
      const width = Math.max(20, (stream.columns || 80) - 1);
      const text = [...redactSecrets(line).replace(/[\r\n]+/g, " ")];
      const fitted = text.length > width ? `${text.slice(0, width - 1).join("")}…` : text.join("");
      if (fitted === shown) return;
      shown = fitted;
      stream.write(`\r\x1b[2K${fitted}`);
    },
    done() {
      if (!active || shown === "") return;
      shown = "";
      stream.write("\r\x1b[2K");
    },
  };
}

/** Runs `fn` with a progress line (see {@link progressLine}) that is cleared when it ends, however it ends. */
export async function withProgress<T>(cmd: { jsonEnabled(): boolean }, fn: (update: (line: string) => void) => Promise<T>): Promise<T> {
  const p = progressLine(cmd);
  try {
    return await fn((line) => p.update(line));
  } finally {
    p.done();
  }
}
