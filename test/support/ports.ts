// Free TCP ports on 127.0.0.1 for servers started by tests and benchmarks.
import https from 'node:https';
import { createServer } from 'node:net';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** Resolves once something accepts HTTP on url (any status), or rejects after timeoutMs. */
export async function waitForHttp(url: string, timeoutMs = 20_000, isAlive: () => boolean = () => true, ca?: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    if (!isAlive()) throw new Error(`server for ${url} exited before it answered`);
    try {
      if (ca) await httpsGet(url, ca);
      else await (await fetch(url)).arrayBuffer();
      return;
    } catch (err) {
      last = err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`nothing answered on ${url} within ${timeoutMs} ms: ${String(last)}`);
}

/** One GET over TLS trusting `ca` (fetch cannot be given a CA). */
function httpsGet(url: string, ca: string): Promise<void> {
  return new Promise((resolve, reject) => {
    https
      .get(url, { ca }, (res) => {
        res.resume();
        res.on('end', resolve);
      })
      .on('error', reject);
  });
}
