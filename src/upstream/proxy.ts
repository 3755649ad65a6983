// The process's egress proxy: set once at start from network.proxy (useProxy), read by both of
// our HTTP clients: the HTTP/1.1 file client (http1.ts) asks proxyFor() per request, and fetch
// goes through an undici dispatcher installed as its global one (fetch-proxy.ts), loaded only
// when a proxy is configured (undici is ~10 MiB of heap a server without a proxy never needs).
// Never logs or puts a proxy's credentials in a message (routes are named without them).
import { ProxyRoutes, type ProxyConfig, type ProxyRoute } from '../config/proxy.js';

export type { ProxyRoute };

let routes: ProxyRoutes | undefined;
/** The configuration the routes came from (a second call with the same one changes nothing). */
let applied = JSON.stringify({ noProxy: [] });
let fetchProxy: { restore(): Promise<void> } | undefined;

/** The proxy a request to url goes through, or undefined (no proxy, or the host is in network.proxy.noProxy). */
export function proxyFor(url: URL): ProxyRoute | undefined {
  return routes?.for(url);
}

/**
 * Routes every later outbound call as config says: through the proxy, or direct for no-proxy
 * hosts. Called at start by the server and every CLI command; again (tests) it replaces the
 * routes, and a configuration without a proxy puts fetch's own dispatcher back.
 */
export async function useProxy(config: ProxyConfig): Promise<void> {
  const key = JSON.stringify({ url: config.url, httpUrl: config.httpUrl, noProxy: config.noProxy });
  if (key === applied) return;
  applied = key;
  routes = ProxyRoutes.fromConfig(config);
  await fetchProxy?.restore();
  fetchProxy = undefined;
  if (routes) fetchProxy = (await import('./fetch-proxy.js')).installFetchProxy(routes);
}
