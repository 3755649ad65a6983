// The HTTP reason phrase of a refusal: the only text pip prints, so it carries the whole message.
// Shared by http/ (problem+json) and by each ecosystem's routes. It must never put a byte Node
// refuses (control characters, non-ASCII) into a status line.

/** Node only accepts visible ASCII (and tab/space) in a status message; keep it on one line. */
export function reasonPhrase(text: string): string {
  const clean = text
    .replace(/[^\x20-\x7e]+/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  return clean.length > 400 ? `${clean.slice(0, 397)}...` : clean;
}
