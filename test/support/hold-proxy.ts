// An HTTP proxy in front of a local test server that can hold matching requests until the test
// releases them: it puts background work in a known place (a gate worker in the middle of
// reading an image's layers) without sleeping or timing tricks. Everything else passes through.
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
  stop(): Promise<void>;
}

export async function startHoldProxy(target: string): Promise<HoldProxy> {
  const to = new URL(target);
  let match: RegExp | undefined;
  let held: Array<() => void> = [];
  const server = http.createServer((req, res) => {
    const forward = () => {
      // A fresh upstream connection per request: a reused socket the registry already closed would
      // fail a request for reasons that have nothing to do with the test.
      const up = http.request(
        { host: to.hostname, port: to.port, method: req.method, path: req.url, headers: req.headers, agent: false },
        (ur) => {
          res.writeHead(ur.statusCode ?? 502, ur.headers);
          ur.pipe(res);
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
    stop: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
