// The console's HTML templating: a tagged template `html\`…\`` whose interpolated values are
// escaped by default, and `raw()` for markup that is already safe (another html`` result). It
// must never insert a caller's text unescaped: a package name, a reason or a note is hostile
// until proven otherwise. Hand-written on purpose: five characters to escape and a join are
// smaller than any library's API (escape-html does the same replacement).

/** Markup that is safe to insert as is: produced by html`` or explicitly marked with raw(). */
export class Html {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text made safe for element content and quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

/** Marks trusted markup (a constant, or an html`` result) as safe to insert unescaped. */
export function raw(markup: string): Html {
  return new Html(markup);
}

/** One interpolated value: Html as is, arrays item by item, null/undefined/false as nothing, the rest escaped. */
function render(value: unknown): string {
  if (value instanceof Html) return value.text;
  if (Array.isArray(value)) return value.map(render).join('');
  if (value === null || value === undefined || value === false) return '';
  return escapeHtml(String(value));
}

/** The escaping template tag: every `${value}` is escaped unless it is Html. */
export function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i++) out += render(values[i]) + strings[i + 1]!;
  return new Html(out);
}
