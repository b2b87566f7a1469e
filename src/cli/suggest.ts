/**
 * "Did you mean …?" for a mistyped command: the commands nearest to what was typed, by edit
 * distance over as many words as each command has (so the arguments typed after a mistyped
 * command do not count against it).
 */
export function closestCommands(typed: string[], commands: string[], max = 3): string[] {
  let best = Number.POSITIVE_INFINITY;
  let found: string[] = [];
  for (const command of commands) {
    const words = command.split(" ");
    if (typed.length < words.length) continue;
    const d = distance(typed.slice(0, words.length).join(" "), command);
    // Close enough to be a slip of the keyboard, not another word: a third of the name.
    if (d > Math.max(1, Math.floor(command.length / 3))) continue;
    if (d < best) [best, found] = [d, [command]];
    else if (d === best) found.push(command);
  }
  return found.slice(0, max);
}

/** Optimal string alignment distance: insertions, deletions, substitutions and swaps of two neighbours each cost one. */
export function distance(a: string, b: string): number {
  const rows: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) (rows[0] as number[])[j] = j;
  for (let i = 1; i <= a.length; i++) {
    const row = rows[i] as number[];
    const up = rows[i - 1] as number[];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row[j] = Math.min((up[j] as number) + 1, (row[j - 1] as number) + 1, (up[j - 1] as number) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) row[j] = Math.min(row[j] as number, (rows[i - 2] as number[])[j - 2] as number + 1);
    }
  }
  return (rows[a.length] as number[])[b.length] as number;
}
