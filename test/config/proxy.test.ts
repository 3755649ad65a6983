// network.proxy: its defaults from the standard HTTPS_PROXY / HTTP_PROXY / NO_PROXY variables,
// errors that name the key and the source and never repeat a password, and which upstream URLs
// go through the proxy (ProxyRoutes: names with their subdomains, .suffixes, IPs, CIDRs, ports, *).
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/load.js';
import { ProxyRoutes } from '../../src/config/proxy.js';
import { configSections } from '../../src/ecosystems/index.js';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const load = (env: NodeJS.ProcessEnv, file?: string) => loadConfig({ sections: configSections, env, ...(file ? { file } : {}) });

function errorOf(run: () => unknown): string {
  try {
    run();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('network.proxy configuration', () => {
  it('has no proxy unless one is configured', () => {
    expect(load({}).config.network.proxy).toEqual({ noProxy: [] });
  });

  it('defaults from the standard variables, lower case first, NO_PROXY split on commas and spaces', () => {
    const { config, sources } = load({
      HTTPS_PROXY: 'http://upper.example:3128',
      https_proxy: 'http://lower.example:3128',
      HTTP_PROXY: 'http://plain.example:8080',
      NO_PROXY: 'localhost, .corp.example 10.0.0.0/8,[::1]:8443',
    });
    expect(config.network.proxy).toEqual({
      url: 'http://lower.example:3128',
      httpUrl: 'http://plain.example:8080',
      noProxy: ['localhost', '.corp.example', '10.0.0.0/8', '[::1]:8443'],
    });
    expect(sources.get('network.proxy.url')).toBe('environment https_proxy');
  });

  it('takes the proxy from the file (or SAFELIST_ variables) over HTTPS_PROXY, and NO_PROXY only where noProxy is unset', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'safelist-proxy-config-'));
    const file = join(dir, 'safelist.yaml');
    await writeFile(file, 'network: { proxy: { url: "https://egress.corp.example:8443" } }\n');
    const { config } = load({ HTTPS_PROXY: 'http://other:3128', HTTP_PROXY: 'http://other:3128', NO_PROXY: '*.internal' }, file);
    expect(config.network.proxy).toEqual({ url: 'https://egress.corp.example:8443', noProxy: ['*.internal'] });
    const env = load({ HTTPS_PROXY: 'http://other:3128', SAFELIST_NETWORK__PROXY__URL: 'http://mine:3128' }).config.network.proxy;
    expect(env.url).toBe('http://mine:3128');
  });

  it('refuses a proxy URL it cannot use, naming the key and the variable, never the password', () => {
    const msg = errorOf(() => load({ HTTPS_PROXY: 'socks5://bob:hunter2@proxy.example:1080' }));
    expect(msg).toContain('network.proxy.url: an http:// or https:// URL of the proxy');
    expect(msg).toContain('(from environment HTTPS_PROXY)');
    expect(msg).not.toMatch(/hunter2|bob/);
    const schemeless = errorOf(() => load({ SAFELIST_NETWORK__PROXY__HTTP_URL: 'bob:hunter2@proxy.example:3128' }));
    expect(schemeless).toContain('network.proxy.httpUrl: an http:// or https:// URL');
    expect(schemeless).not.toMatch(/hunter2/);
    expect(errorOf(() => load({ HTTPS_PROXY: 'http://proxy.example:3128/path' }))).toContain('without a path, query or fragment');
  });

  it('leaves a network.proxy that is not a mapping for the schema to refuse, HTTPS_PROXY or not', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'safelist-proxy-config-'));
    const file = join(dir, 'safelist.yaml');
    await writeFile(file, 'network: { proxy: "http://egress.example:3128" }\n');
    expect(errorOf(() => load({ HTTPS_PROXY: 'http://other:3128' }, file))).toMatch(/network\.proxy: .*object/);
  });

  it('refuses a no-proxy entry it cannot match, naming it and what would do', () => {
    const msg = errorOf(() => load({ NO_PROXY: 'localhost,10.0.0.0/33,exa mple' }));
    expect(msg).toContain('network.proxy.noProxy.1: "10.0.0.0/33" is not a host name');
    expect(msg).toContain('(from environment NO_PROXY)');
  });
});

describe('ProxyRoutes', () => {
  const routes = ProxyRoutes.fromConfig({
    url: 'http://alice:p%40ss%3Aword@proxy.corp.example:3128',
    noProxy: ['corp.example', '.svc.local', '10.0.0.0/8', '192.168.1.7', 'fd00::/8', 'registry.example:5000', '[::1]'],
  })!;
  const via = (url: string) => routes.for(new URL(url))?.name;

  it('names the proxy without its credentials and sends them as Basic, percent-decoded', () => {
    const route = routes.for(new URL('https://pypi.org/simple/'))!;
    expect(route.name).toBe('http://proxy.corp.example:3128');
    expect(route.url.href).toBe('http://proxy.corp.example:3128/');
    expect(route.authorization).toBe(`Basic ${Buffer.from('alice:p@ss:word').toString('base64')}`);
  });

  it('bypasses listed names with their subdomains, suffixes, IPs, CIDRs and host:port; proxies the rest', () => {
    for (const direct of [
      'https://corp.example/x',
      'https://pkgs.corp.example/x',
      'http://a.b.svc.local/',
      'http://10.20.30.40:8080/',
      'http://192.168.1.7/',
      'https://[fd12::1]/',
      'https://registry.example:5000/v2/',
      'http://[::1]:8080/',
    ])
      expect(via(direct), direct).toBeUndefined();
    for (const proxied of [
      'https://pypi.org/',
      'https://notcorp.example/',
      'http://svc.local/',
      'http://11.0.0.1/',
      'http://192.168.1.8/',
      'https://registry.example/v2/',
      'https://[fe80::1]/',
    ])
      expect(via(proxied), proxied).toBe('http://proxy.corp.example:3128');
  });

  it('sends http:// upstreams to httpUrl when set, and nothing anywhere with *', () => {
    const split = ProxyRoutes.fromConfig({ url: 'https://tls-proxy:8443', httpUrl: 'http://plain-proxy:3128', noProxy: [] })!;
    expect(split.for(new URL('http://example.com/'))?.name).toBe('http://plain-proxy:3128');
    expect(split.for(new URL('https://example.com/'))?.name).toBe('https://tls-proxy:8443');
    expect(ProxyRoutes.fromConfig({ url: 'http://p:1', noProxy: ['*'] })!.for(new URL('https://example.com/'))).toBeUndefined();
    expect(ProxyRoutes.fromConfig({ noProxy: ['*'] })).toBeUndefined();
  });
});
