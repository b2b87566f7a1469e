import { goRegExp } from "./regex.js";

/** The six partial-encryption rules sops knows; at most one applies to a file. */
export const SELECTION_KINDS = [
  "unencrypted_suffix",
  "encrypted_suffix",
  "unencrypted_regex",
  "encrypted_regex",
  "unencrypted_comment_regex",
  "encrypted_comment_regex",
] as const;
export type SelectionKind = (typeof SELECTION_KINDS)[number];

export interface SelectionRule {
  kind: SelectionKind;
  value: string;
}

/** With no rule, sops encrypts everything but keys ending in `_unencrypted` (stores.go:296, main.go:2208). */
export const DEFAULT_SELECTION: SelectionRule = { kind: "unencrypted_suffix", value: "_unencrypted" };

/**
 * Whether a leaf is encrypted (sops.go:437-509 shouldBeEncrypted). Every component of the
 * path is tested, so a rule on an ancestor covers its subtree; comment rules look at the
 * stack of comment lines directly above the leaf and its ancestors.
 */
export function shouldBeEncrypted(rule: SelectionRule, path: readonly string[], commentsStack: readonly (readonly string[])[], isComment: boolean): boolean {
  switch (rule.kind) {
    case "unencrypted_suffix":
      return !path.some((p) => p.endsWith(rule.value));
    case "encrypted_suffix":
      return path.some((p) => p.endsWith(rule.value));
    case "unencrypted_regex": {
      const re = goRegExp(rule.value, "unencrypted_regex");
      return !path.some((p) => re.test(p));
    }
    case "encrypted_regex": {
      const re = goRegExp(rule.value, "encrypted_regex");
      return path.some((p) => re.test(p));
    }
    case "unencrypted_comment_regex": {
      const re = goRegExp(rule.value, "unencrypted_comment_regex");
      return !commentsStack.some((level) => level.some((c) => re.test(c)));
    }
    case "encrypted_comment_regex": {
      const re = goRegExp(rule.value, "encrypted_comment_regex");
      const last = commentsStack.length - 1;
      // The comment line that carries the marker is itself left in the clear: skip the
      // innermost level's last comment when the leaf is that comment (sops.go:487-505).
      return commentsStack.some((level, i) =>
        level.some((c, j) => !(isComment && i === last && j === level.length - 1) && re.test(c)),
      );
    }
  }
}
