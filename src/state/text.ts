// What text PostgreSQL (and PGlite) can store: no NUL (text cannot hold U+0000: 22021; jsonb
// refuses \u0000: 22P05) and no lone UTF-16 surrogate (not Unicode: 22P02, or silently U+FFFD).
// The API refuses such input with a 400 (http/text-input.ts); best-effort writers skip it. It
// must never alter a string: callers decide what to do with one that cannot be stored.

/** What is wrong with a string, or undefined when a database can store it. */
export function textProblem(s: string): string | undefined {
  if (s.includes('\u0000')) return 'contains a NUL character (U+0000), which cannot be stored; remove it';
  const lone = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.exec(s);
  if (lone)
    return `contains a lone UTF-16 surrogate (U+${lone[0].charCodeAt(0).toString(16).toUpperCase()}), which is not valid Unicode; send UTF-8 text`;
  return undefined;
}
