// fetch through the egress proxy: an undici dispatcher, installed as the global one Node's fetch
// uses, that sends each request through undici's ProxyAgent (CONNECT for https://, absolute
// form for http://) or, for a no-proxy host, straight through an Agent. The choice is ProxyRoutes'
// (config/proxy.ts), the same one the HTTP/1.1 file client makes; undici's EnvHttpProxyAgent
// is not used because it reads the environment itself and knows no CIDRs. Loaded lazily by
// proxy.ts only when a proxy is configured. Never hands the proxy's credentials to anything but
// ProxyAgent's Proxy-Authorization header.
import { Agent, Dispatcher, getGlobalDispatcher, ProxyAgent, setGlobalDispatcher } from 'undici';
import type { ProxyRoute, ProxyRoutes } from '../config/proxy.js';

/** The global dispatcher's slot, shared by Node's bundled undici and this package (undici's own name for it). */
const GLOBAL_DISPATCHER = Symbol.for('undici.globalDispatcher.1');

class ProxyRouter extends Dispatcher {
  private readonly direct = new Agent();
  private readonly proxies = new Map<string, ProxyAgent>();

  constructor(private readonly routes: ProxyRoutes) {
    super();
  }

  override dispatch(opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    const route = opts.origin === undefined ? undefined : this.routes.for(new URL(opts.origin));
    return (route ? this.agentFor(route) : this.direct).dispatch(opts, handler);
  }

  private agentFor(route: ProxyRoute): ProxyAgent {
    let agent = this.proxies.get(route.key);
    if (!agent) {
      // proxyTunnel false: http:// upstreams are asked in absolute form, as the file client asks them
      // (proxies commonly refuse CONNECT to ports other than 443); https:// ones always tunnel.
      agent = new ProxyAgent({ uri: route.url.href, proxyTunnel: false, ...(route.authorization ? { token: route.authorization } : {}) });
      this.proxies.set(route.key, agent);
    }
    return agent;
  }

  override async close(): Promise<void> {
    await Promise.all([this.direct.close(), ...[...this.proxies.values()].map((a) => a.close())]);
  }

  override async destroy(): Promise<void> {
    await Promise.all([this.direct.destroy(), ...[...this.proxies.values()].map((a) => a.destroy())]);
  }
}

/** Makes fetch route through the proxy; restore() puts back the dispatcher fetch had before. */
export function installFetchProxy(routes: ProxyRoutes): { restore(): Promise<void> } {
  const slot = globalThis as unknown as Record<symbol, Dispatcher | undefined>;
  const before = slot[GLOBAL_DISPATCHER];
  const router = new ProxyRouter(routes);
  setGlobalDispatcher(router);
  return {
    async restore() {
      if (getGlobalDispatcher() !== router) return; // someone else replaced it since: theirs stands
      // The slot cannot be emptied (undici defines it non-configurable): a plain Agent when fetch had none yet.
      setGlobalDispatcher(before ?? new Agent());
      await router.close();
    },
  };
}
