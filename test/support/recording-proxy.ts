// A plain HTTP proxy in front of a test server that records each request a real client makes
// ("GET /path -> 200"), so a test can say which representation the client chose. It forwards
// bodies unchanged and never alters status or headers, except the hop-by-hop ones.
import { createServer, type IncomingHttpHeaders } from 'node:http';

export interface RecordingProxy {
  url: string;
  requests: string[];
  stop(): Promise<void>;
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-encoding', 'host']);

function forwardable(h: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) if (v !== undefined && !HOP_BY_HOP.has(k)) out[k] = Array.isArray(v) ? v.join(', ') : v;
  return out;
}

export async function startRecordingProxy(target: string): Promise<RecordingProxy> {
  const requests: string[] = [];
  const server = createServer((req, res) => {
    // fetch() decodes a Content-Encoding itself; ask for identity so the bytes pass unchanged.
    fetch(`${target}${req.url}`, { method: req.method, headers: { ...forwardable(req.headers), 'accept-encoding': 'identity' } })
      .then(async (r) => {
        requests.push(`${req.method} ${req.url} -> ${r.status}`);
        const body = Buffer.from(await r.arrayBuffer());
        const headers: Record<string, string> = {};
        r.headers.forEach((v, k) => {
          if (!HOP_BY_HOP.has(k)) headers[k] = v;
        });
        res.writeHead(r.status, headers).end(req.method === 'HEAD' ? undefined : body);
      })
      .catch((err: Error) => res.writeHead(502).end(err.message));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}`, requests, stop: () => new Promise((resolve) => server.close(() => resolve())) };
}
