import { createInterface } from "node:readline/promises";

/** Whether a question can be asked: stdin and stderr are terminals and output is not --json. */
export function canAsk(cmd: { jsonEnabled(): boolean }): boolean {
  return Boolean(process.stdin.isTTY && process.stderr.isTTY) && !cmd.jsonEnabled();
}

/** Asks a yes/no question on the terminal (stderr, so stdout keeps only the result); no by default. */
export async function confirm(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  try {
    const answer = await rl.question(`${question} [y/N] `);
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    rl.close();
  }
}
