// An HTTP proxy in front of a local test server that can hold matching requests until the test
// releases them: it puts background work in a known place (a gate worker in the middle of
// reading an image's layers) without sleeping or timing tricks. It can also break matching
// answers the ways real upstreams break (a status of its choosing, a body cut off after some
// bytes, a redirect to the server itself), for the upstream client contract. Everything else
// passes through unchanged; it never invents a successful answer.
import http from 'node:http';

export interface HoldProxy {
  /** http://127.0.0.1:PORT */
  url: string;
  /** Holds requests whose path matches from now on (until release). */
  hold(match: RegExp): void;
  /** How many requests are being held. */
  readonly waiting: number;
  /** Lets every held request through and stops holding. */
  release(): void;
  /** Answers requests whose path matches with this status and a short text body, without asking the server. */
  fail(match: RegExp, status: number): void;
  /** Passes matching answers' headers (Content-Length included) and only the first `bytes` of the body, then drops the connection. */
  truncate(match: RegExp, bytes: number): void;
  /** Answers matching requests with a 307 to the same path on the server behind the proxy. */
  redirect(match: RegExp): void;
  /** Stops failing, truncating and redirecting (held requests stay held). */
  clear(): void;
  /** "METHOD path" of every request received, in order. */
  readonly requests: string[];
  stop(): Promise<void>;
}

type Fault = { match: RegExp } & ({ kind: 'fail'; status: number } | { kind: 'truncate'; bytes: number } | { kind: 'redirect' });

export async function startHoldProxy(target: string): Promise<HoldProxy> {
  const to = new URL(target);
  let match: RegExp | undefined;
  let held: Array<() => void> = [];
  let faults: Fault[] = [];
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    const fault = faults.find((f) => f.match.test(req.url ?? ''));
    if (fault?.kind === 'fail') return void res.writeHead(fault.status, { 'content-type': 'text/plain' }).end(`injected ${fault.status}\n`);
    if (fault?.kind === 'redirect') return void res.writeHead(307, { location: `${to.origin}${req.url}` }).end();
    const forward = () => {
      // A fresh upstream connection per request: a reused socket the registry already closed would
      // fail a request for reasons that have nothing to do with the test.
      const up = http.request(
        { host: to.hostname, port: to.port, method: req.method, path: req.url, headers: req.headers, agent: false },
        (ur) => {
          res.writeHead(ur.statusCode ?? 502, ur.headers);
          if (fault?.kind === 'truncate') cutOff(ur, res, fault.bytes);
          else ur.pipe(res);
        },
      );
      up.on('error', (err) => res.destroy(err));
      req.pipe(up);
    };
    if (match?.test(req.url ?? '')) held.push(forward);
    else forward();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    hold(m) {
      match = m;
    },
    get waiting() {
      return held.length;
    },
    release() {
      match = undefined;
      const go = held;
      held = [];
      for (const f of go) f();
    },
    fail: (m, status) => void faults.push({ match: m, kind: 'fail', status }),
    truncate: (m, bytes) => void faults.push({ match: m, kind: 'truncate', bytes }),
    redirect: (m) => void faults.push({ match: m, kind: 'redirect' }),
    clear() {
      faults = [];
    },
    requests,
    stop: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** Writes the first `bytes` of the answer's body, then drops the connection mid-body. */
function cutOff(from: http.IncomingMessage, to: http.ServerResponse, bytes: number): void {
  let sent = 0;
  from.on('data', (chunk: Buffer) => {
    if (sent >= bytes) return;
    const part = chunk.subarray(0, bytes - sent);
    sent += part.length;
    to.write(part);
    if (sent >= bytes) {
      from.destroy();
      // Flush what was written, then close the socket without ending the body.
      to.socket?.end();
    }
  });
  from.on('end', () => to.end()); // a body shorter than `bytes` passes whole
}
