// The console's Content-Security-Policy: same-origin script, style and images only, no inline
// code, no framing. Forms post to the console itself; the one exception is the sign-in page,
// whose "Sign in with Microsoft" form is answered with a redirect to the OpenID provider, and
// browsers (Chromium) check form-action against every redirect of a form submission too. It
// must never allow inline script or another origin for script, style or images.

const DIRECTIVES = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "frame-ancestors 'none'",
  "base-uri 'none'",
];

/** The policy, with `formTo` (origins such as https://login.microsoftonline.com) allowed as form targets besides the console. */
export function consoleCsp(formTo: readonly string[] = []): string {
  for (const o of formTo) if (new URL(o).origin !== o) throw new Error(`not an origin: ${o}`);
  return [...DIRECTIVES.slice(0, 4), ["form-action 'self'", ...formTo].join(' '), ...DIRECTIVES.slice(4)].join('; ');
}

/** Every page but the sign-in page. */
export const CSP = consoleCsp();
