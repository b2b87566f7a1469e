import { BootMetaError, ExitCode } from "../errors.js";

const cache = new Map<string, RegExp>();

/**
 * Compiles a Go RE2 pattern (as `.sops.yaml` and sops metadata hold them) into a JS RegExp
 * with the same meaning for the patterns people write: leading `(?i)`/`(?s)`/`(?m)` flags,
 * `(?P<name>…)`, `\A` and `\z`, and POSIX classes like `[[:alpha:]]`. Matching is unanchored,
 * as Go's `regexp.Match` is. Throws `SOPS_INVALID_REGEX` for what cannot be translated.
 */
export function goRegExp(pattern: string, context = "regular expression"): RegExp {
  const hit = cache.get(pattern);
  if (hit) return hit;
  let src = pattern;
  let flags = "";
  const lead = /^\(\?([imsU]+)\)/.exec(src);
  if (lead) {
    const f = lead[1] ?? "";
    if (f.includes("U")) throw invalid(pattern, context, "the U (ungreedy) flag has no JavaScript equivalent");
    flags = [...new Set(f)].join("");
    src = src.slice(lead[0].length);
  }
  src = src
    .replace(/\(\?P</g, "(?<")
    .replace(/\\A/g, "^")
    .replace(/\\z/g, "$(?![\\s\\S])")
    .replace(/\[:(alpha|digit|alnum|space|upper|lower|punct|xdigit|word):\]/g, (_m, cls: string) => POSIX[cls] ?? "");
  if (/\(\?[a-zA-Z]/.test(src) && !/\(\?<[a-zA-Z]/.test(src)) throw invalid(pattern, context, "inline flags are only supported at the start of the pattern");
  let re: RegExp;
  try {
    re = new RegExp(src, flags);
  } catch (first) {
    try {
      re = new RegExp(src, `${flags}u`);
    } catch {
      throw invalid(pattern, context, (first as Error).message);
    }
  }
  cache.set(pattern, re);
  return re;
}

const POSIX: Record<string, string> = {
  alpha: "A-Za-z",
  digit: "0-9",
  alnum: "A-Za-z0-9",
  space: "\\t\\n\\v\\f\\r ",
  upper: "A-Z",
  lower: "a-z",
  punct: "!-\\/:-@\\[-`{-~",
  xdigit: "0-9A-Fa-f",
  word: "A-Za-z0-9_",
};

function invalid(pattern: string, context: string, why: string): BootMetaError {
  return new BootMetaError("SOPS_INVALID_REGEX", `the ${context} ${JSON.stringify(pattern)} cannot be used: ${why}`, ExitCode.InvalidArgument, {
    data: { pattern },
    suggestions: ["write the pattern in the RE2 subset that Go and JavaScript share"],
  });
}
