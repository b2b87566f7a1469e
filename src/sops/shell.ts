import { BootMetaError, ExitCode } from "../errors.js";

/** Minimal POSIX-shell word splitting (quotes and backslashes), as sops splits $EDITOR. */
export function shellSplit(s: string): string[] {
  const out: string[] = [];
  let cur = "";
  let quote: '"' | "'" | undefined;
  let any = false;
  for (let i = 0; i < s.length; i++) {
    const ch = s[i] as string;
    if (quote) {
      if (ch === quote) quote = undefined;
      else if (ch === "\\" && quote === '"' && i + 1 < s.length) cur += s[++i];
      else cur += ch;
    } else if (ch === "'" || ch === '"') {
      quote = ch;
      any = true;
    } else if (ch === "\\" && i + 1 < s.length) {
      cur += s[++i];
      any = true;
    } else if (/\s/.test(ch)) {
      if (cur || any) out.push(cur);
      cur = "";
      any = false;
    } else cur += ch;
  }
  if (quote) throw new BootMetaError("INVALID_ARGUMENT", `unterminated ${quote} in ${JSON.stringify(s)}`, ExitCode.InvalidArgument);
  if (cur || any) out.push(cur);
  return out;
}

/** One word for a POSIX shell: as it is when it needs no quoting, else in single quotes. */
export function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}
