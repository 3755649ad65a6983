// The egress proxy as configured (network.proxy): its URL's grammar, the no-proxy list's grammar,
// and which proxy (if any) a given upstream URL goes through. Pure functions of the configuration,
// read by the HTTP clients (upstream/), the fetch dispatcher and the Azure SDK clients alike, so
// every outbound call decides the same way. Never puts a proxy's user or password in a name or a
// message: proxies are named by scheme, host and port only.
import net from 'node:net';

/** network.proxy as the schema gives it. */
export interface ProxyConfig {
  url?: string | undefined;
  httpUrl?: string | undefined;
  noProxy: string[];
}

/** One proxy a request goes through. */
export interface ProxyRoute {
  /** The proxy's URL without credentials (scheme, host, port). */
  url: URL;
  /** How messages name it: scheme://host:port, never the credentials. */
  name: string;
  /** `Basic …` for Proxy-Authorization, when the URL carries user:password. */
  authorization: string | undefined;
  /** Tells proxies apart (credentials included), for connection pools; never shown. */
  key: string;
}

/** Why a proxy URL is refused, or undefined when it is usable. Never quotes the value (it may hold a password). */
export function proxyUrlProblem(value: string): string | undefined {
  const expected =
    'an http:// or https:// URL of the proxy, such as http://proxy.example.com:3128 (user:password@ before the host if it asks)';
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    return expected;
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return `${expected}; other schemes (socks5://, none) are not supported`;
  if (!u.hostname) return `${expected}; the host is missing`;
  if ((u.pathname !== '/' && u.pathname !== '') || u.search || u.hash) return `${expected}; without a path, query or fragment`;
  return undefined;
}

/** One no-proxy entry, parsed. */
type NoProxyEntry =
  | { kind: 'all' }
  | { kind: 'subnet'; list: net.BlockList }
  | { kind: 'ip'; address: string; family: 'ipv4' | 'ipv6'; port: number | undefined }
  | { kind: 'host'; name: string; suffixOnly: boolean; port: number | undefined };

const HOST_LABELS = /^(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*$/;

/**
 * `*`; a CIDR (10.0.0.0/8, fd00::/8); an IP (127.0.0.1, ::1, [::1]:8443); a host name, which
 * also covers its subdomains (example.com); a domain suffix, which covers only subdomains
 * (.example.com, *.example.com); names and IPs may carry :port. Undefined when it is none of those.
 */
export function parseNoProxyEntry(raw: string): NoProxyEntry | undefined {
  const entry = raw.trim().toLowerCase();
  if (entry === '*') return { kind: 'all' };
  const cidr = /^([0-9a-f:.]+)\/(\d{1,3})$/.exec(entry);
  if (cidr) {
    const family = net.isIP(cidr[1]!);
    const bits = Number(cidr[2]);
    if (!family || bits > (family === 4 ? 32 : 128)) return undefined;
    const list = new net.BlockList();
    list.addSubnet(cidr[1]!, bits, family === 4 ? 'ipv4' : 'ipv6');
    return { kind: 'subnet', list };
  }
  const port = (p: string | undefined) => (p === undefined ? undefined : Number(p) >= 1 && Number(p) <= 65535 ? Number(p) : NaN);
  const bracketed = /^\[([0-9a-f:.]+)\](?::(\d{1,5}))?$/.exec(entry);
  if (bracketed) {
    const p = port(bracketed[2]);
    return net.isIPv6(bracketed[1]!) && !Number.isNaN(p) ? { kind: 'ip', address: bracketed[1]!, family: 'ipv6', port: p } : undefined;
  }
  if (net.isIPv6(entry)) return { kind: 'ip', address: entry, family: 'ipv6', port: undefined };
  const named = /^(\*\.|\.)?([^:]+)(?::(\d{1,5}))?$/.exec(entry);
  if (!named) return undefined;
  const p = port(named[3]);
  if (Number.isNaN(p)) return undefined;
  if (net.isIPv4(named[2]!)) return named[1] ? undefined : { kind: 'ip', address: named[2]!, family: 'ipv4', port: p };
  return HOST_LABELS.test(named[2]!) ? { kind: 'host', name: named[2]!, suffixOnly: named[1] !== undefined, port: p } : undefined;
}

/** The message for an entry parseNoProxyEntry refuses. */
export const NO_PROXY_EXPECTED =
  'a host name (example.com, its subdomains too), a domain suffix (.example.com), an IP address, a CIDR (10.0.0.0/8), or * — each optionally with :port';

function bypasses(entry: NoProxyEntry, host: string, port: number): boolean {
  switch (entry.kind) {
    case 'all':
      return true;
    case 'subnet': {
      const family = net.isIP(host);
      return family !== 0 && entry.list.check(host, family === 4 ? 'ipv4' : 'ipv6');
    }
    case 'ip':
      return (entry.port === undefined || entry.port === port) && net.isIP(host) !== 0 && sameIp(entry.address, host);
    case 'host':
      return (
        (entry.port === undefined || entry.port === port) && (host.endsWith(`.${entry.name}`) || (!entry.suffixOnly && host === entry.name))
      );
  }
}

function sameIp(a: string, b: string): boolean {
  if (a === b) return true;
  const list = new net.BlockList();
  list.addAddress(a, net.isIPv6(a) ? 'ipv6' : 'ipv4');
  return list.check(b, net.isIPv6(b) ? 'ipv6' : 'ipv4');
}

function route(value: string): ProxyRoute {
  const u = new URL(value);
  const user = decodeURIComponent(u.username);
  const password = decodeURIComponent(u.password);
  const authorization = user || password ? `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` : undefined;
  const key = u.href;
  u.username = '';
  u.password = '';
  return { url: u, name: `${u.protocol}//${u.host}`, authorization, key };
}

/** Which proxy each upstream URL goes through, from network.proxy. */
export class ProxyRoutes {
  private readonly https: ProxyRoute | undefined;
  private readonly http: ProxyRoute | undefined;
  private readonly noProxy: NoProxyEntry[];

  private constructor(config: ProxyConfig) {
    this.https = config.url ? route(config.url) : undefined;
    this.http = config.httpUrl ? route(config.httpUrl) : this.https;
    // The schema let only valid entries through.
    this.noProxy = config.noProxy.map((e) => parseNoProxyEntry(e)).filter((e): e is NoProxyEntry => e !== undefined);
  }

  /** The routes of a configuration, or undefined when it names no proxy (every call goes direct). */
  static fromConfig(config: ProxyConfig): ProxyRoutes | undefined {
    return config.url || config.httpUrl ? new ProxyRoutes(config) : undefined;
  }

  /** The proxy a request to target goes through; undefined: straight to the target (no proxy, or no-proxy listed). */
  for(target: URL): ProxyRoute | undefined {
    const proxy = target.protocol === 'http:' || target.protocol === 'ws:' ? this.http : this.https;
    if (!proxy) return undefined;
    const host = (target.hostname.startsWith('[') ? target.hostname.slice(1, -1) : target.hostname).toLowerCase().replace(/\.$/, '');
    const port = Number(target.port) || (target.protocol === 'https:' || target.protocol === 'wss:' ? 443 : 80);
    return this.noProxy.some((e) => bypasses(e, host, port)) ? undefined : proxy;
  }
}

/** The Azure SDKs' proxyOptions (@azure/core-rest-pipeline ProxySettings). */
export interface AzureProxySettings {
  /** The proxy's scheme and host: http://proxy.example */
  host: string;
  port: number;
  username?: string;
  password?: string;
}

/**
 * proxyOptions for an Azure SDK client of `endpoint` (a storage account, ARM, a registry): the
 * proxy network.proxy sends it through, or undefined when it goes direct. Undefined lets the SDK
 * fall back on HTTPS_PROXY / NO_PROXY in the environment, which network.proxy defaults from.
 */
export function azureProxyOptions(config: ProxyConfig, endpoint: string): AzureProxySettings | undefined {
  const target = new URL(endpoint);
  const route = ProxyRoutes.fromConfig(config)?.for(target);
  if (!route) return undefined;
  const given = new URL(target.protocol === 'http:' ? (config.httpUrl ?? config.url!) : (config.url ?? config.httpUrl!));
  const port = Number(given.port) || (given.protocol === 'https:' ? 443 : 80);
  const credentials = given.username || given.password;
  return {
    host: `${given.protocol}//${given.hostname}`,
    port,
    ...(credentials ? { username: decodeURIComponent(given.username), password: decodeURIComponent(given.password) } : {}),
  };
}
