/**
 * The pattern syntax of the Query service's Like operator (OPC 10000-4), used by QueryApplications
 * and QueryServers filters: `%` any run of characters, `_` one character, `[abc]`/`[a-z]` one of a
 * set, `[^abc]` one not in it, and `\` to escape the next character.
 */
export interface LikePattern {
  /** Full-semantics matcher, the final word on a match. */
  test(value: string): boolean;
  /**
   * An SQL LIKE pattern (escape character `\`) that every match also matches (a set becomes `_`),
   * used only to narrow a query before `test` decides.
   */
  sqlLike: string;
}

/** Escapes a character for a `u`-mode RegExp, where only syntax characters may be escaped (`\-` is an error outside a set). */
function escapeRegex(ch: string): string {
  return /[.*+?^${}()|[\]\\/]/.test(ch) ? `\\${ch}` : ch;
}

/** True when `[set]` compiles (a backwards range such as z-a does not). */
function isValidSet(set: string): boolean {
  try {
    new RegExp(`[${set}]`, "u");
    return true;
  } catch {
    return false;
  }
}

/** Compiles a Like pattern; a malformed set (no closing bracket) is matched literally. */
export function compileLikePattern(pattern: string): LikePattern {
  let regex = "";
  let sql = "";
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i];
    if (ch === "\\" && i + 1 < pattern.length) {
      const next = pattern[++i];
      regex += escapeRegex(next);
      sql += /[%_\\]/.test(next) ? `\\${next}` : next;
    } else if (ch === "%") {
      regex += "[\\s\\S]*";
      sql += "%";
    } else if (ch === "_") {
      regex += "[\\s\\S]";
      sql += "_";
    } else if (ch === "[" && pattern.indexOf("]", i + 1) > i + 1) {
      const end = pattern.indexOf("]", i + 1);
      let body = pattern.slice(i + 1, end);
      const negate = body.startsWith("^");
      if (negate) body = body.slice(1);
      const set = [...body].map((c) => (c === "-" ? "-" : escapeRegex(c))).join("");
      // A range written backwards ([z-a]) matches nothing rather than failing the query.
      if (!isValidSet(set)) {
        regex += "(?!)";
        sql += "_";
        i = end;
        continue;
      }
      regex += negate ? `[^${set}]` : `[${set}]`;
      sql += "_";
      i = end;
    } else {
      regex += escapeRegex(ch);
      sql += /[%_\\]/.test(ch) ? `\\${ch}` : ch;
    }
  }
  const re = new RegExp(`^${regex}$`, "u");
  return { test: (value: string) => re.test(value), sqlLike: sql };
}
