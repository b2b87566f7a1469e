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
  re2Only(pattern, context);
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

/**
 * RE2 has no lookaround, backreferences or `\Q…\E`; JavaScript would accept the first two with
 * a meaning sops never gives them, so they are refused before translation.
 */
function re2Only(pattern: string, where: string): void {
  const refuse = (why: string) =>
    new BootMetaError("SOPS_INVALID_REGEX", `the ${where} ${JSON.stringify(pattern)} cannot be used: ${why}, which Go's RE2 (and so sops) does not support`, ExitCode.InvalidArgument, {
      data: { pattern },
      suggestions: ["write the pattern in the RE2 syntax sops uses: https://github.com/google/re2/wiki/Syntax"],
    });
  let inClass = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === "\\") {
      const n = pattern[i + 1] ?? "";
      if (!inClass && /[1-9]/.test(n)) throw refuse("it uses a backreference");
      if (n === "Q") throw refuse("it uses \\Q…\\E quoting");
      i++;
    } else if (inClass) {
      if (c === "[" && pattern[i + 1] === ":") i = Math.max(i, pattern.indexOf(":]", i + 2) + 1);
      else if (c === "]") inClass = false;
    } else if (c === "[") {
      inClass = true;
      if (pattern[i + 1] === "^") i++;
      if (pattern[i + 1] === "]") i++;
    } else if (c === "(" && pattern[i + 1] === "?" && /^(=|!|<=|<!)/.test(pattern.slice(i + 2))) {
      throw refuse("it uses a lookaround");
    }
  }
}

/** Compiles a `path_regex` with Go RE2 semantics (unanchored). Throws `SOPS_INVALID_REGEX`. */
