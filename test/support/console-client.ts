// A browser-shaped HTTP client for console tests: real HTTP with fetch, a cookie jar (one host),
// redirects followed by hand so every Set-Cookie on the way is kept, and the CSRF token read
// from the page's own forms. Shared by the console's HTTP tests (the browser test drives chromium).

export interface Page {
  status: number;
  url: string;
  headers: Headers;
  body: string;
}

export class ConsoleClient {
  /** Cookies per origin (the console's, and an OpenID provider's during sign-in). */
  private readonly jars = new Map<string, Map<string, string>>();

  constructor(readonly base: string) {}

  private jar(origin: string): Map<string, string> {
    let jar = this.jars.get(origin);
    if (!jar) this.jars.set(origin, (jar = new Map()));
    return jar;
  }

  /** The console's cookies. */
  get cookies(): Map<string, string> {
    return this.jar(new URL(this.base).origin);
  }

  private keep(url: URL, res: Response): void {
    const jar = this.jar(url.origin);
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      const gone = attrs.some((a) => /^\s*max-age=0\s*$/i.test(a) || /^\s*expires=Thu, 01 Jan 1970/i.test(a));
      if (gone || value === '') jar.delete(name);
      else jar.set(name, value);
    }
  }

  private cookieHeader(url: URL): Record<string, string> {
    const jar = this.jar(url.origin);
    return jar.size ? { cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; ') } : {};
  }

  /** One request, no redirect followed. */
  async request(
    method: string,
    path: string,
    opts: { form?: Record<string, string | string[]>; headers?: Record<string, string> } = {},
  ): Promise<Page> {
    const url = new URL(path, this.base);
    const headers: Record<string, string> = { ...this.cookieHeader(url), ...opts.headers };
    let body: string | undefined;
    if (opts.form) {
      const p = new URLSearchParams();
      for (const [k, v] of Object.entries(opts.form)) for (const one of Array.isArray(v) ? v : [v]) p.append(k, one);
      body = p.toString();
      headers['content-type'] = 'application/x-www-form-urlencoded';
    }
    const res = await fetch(url, { method, headers, body, redirect: 'manual' });
    this.keep(url, res);
    return { status: res.status, url: url.href, headers: res.headers, body: await res.text() };
  }

  /** A request, then its redirects (GET) until a page answers; every hop's cookies are kept. */
  async go(method: string, path: string, opts: Parameters<ConsoleClient['request']>[2] = {}): Promise<Page> {
    let page = await this.request(method, path, opts);
    for (let hops = 0; page.status >= 300 && page.status < 400 && hops < 10; hops++) {
      page = await this.request('GET', new URL(page.headers.get('location')!, page.url).href);
    }
    return page;
  }

  get(path: string): Promise<Page> {
    return this.go('GET', path);
  }

  /** Posts a form with the CSRF token of `from` (a page that holds a form). */
  post(path: string, from: Page, form: Record<string, string | string[]> = {}): Promise<Page> {
    return this.go('POST', path, { form: { _csrf: csrfOf(from), ...form } });
  }

  /** Signs in on the static-token form. */
  async signInWithToken(token: string): Promise<Page> {
    const page = await this.get('/ui/sign-in');
    return this.post('/ui/sign-in', page, { token });
  }
}

/** The CSRF token in a page's forms. */
export function csrfOf(page: Page): string {
  const m = /name="_csrf" value="([^"]+)"/.exec(page.body);
  if (!m) throw new Error(`no CSRF token on ${page.url} (status ${page.status})`);
  return m[1]!;
}

/**
 * A page's markup with layout whitespace removed (runs collapsed, none around tags), so tests
 * match markup however the formatter laid the templates out.
 */
export function flat(page: Page): string {
  return page.body.replace(/\s+/g, ' ').replace(/\s>/g, '>').replace(/>\s</g, '><').replace(/>\s/g, '>').replace(/\s</g, '<');
}
