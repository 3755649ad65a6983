// A local receiver for Safelist's outgoing notifications: records each JSON body it is sent.
import { createServer } from 'node:http';

export interface HookReceiver {
  url: string;
  received: Array<Record<string, any>>;
  stop(): Promise<void>;
}

export async function startHookReceiver(): Promise<HookReceiver> {
  const received: HookReceiver['received'] = [];
  const server = createServer((req, res) => {
    let b = '';
    req.on('data', (d: Buffer) => (b += d));
    req.on('end', () => {
      received.push(JSON.parse(b) as Record<string, any>);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}/`,
    received,
    stop: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
