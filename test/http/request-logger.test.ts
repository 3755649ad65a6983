// req.log is made lazily (src/http/request-logger.ts): a request that logs nothing costs no pino
// child, and one that logs gets exactly the line pino's own child would write (request id
// bound, level respected, nested children keeping both bindings).
import { Writable } from 'node:stream';
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { appLogging, RequestLogger } from '../../src/http/request-logger.js';

/** An app that logs the way http/app.ts makes it log, into `lines`. */
function collectingApp(level: string) {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString('utf8').split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  const logging = appLogging(level, stream);
  const app = Fastify(logging.options);
  app.log = logging.log;
  return { app, lines };
}

describe('the lazy request logger', () => {
  it('writes what a request logs at an enabled level, with its request id, and nothing below the level', async () => {
    const { app, lines } = collectingApp('warn');
    let lazy = false;
    app.get('/x', async (req) => {
      lazy = req.log instanceof RequestLogger;
      req.log.info('below the level');
      req.log.debug({ detail: 1 }, 'below the level too');
      req.log.warn({ key: 'k' }, 'something to see');
      req.log.child({ part: 'inner' }).error('from a child');
      return { ok: true };
    });
    const res = await app.inject({ method: 'GET', url: '/x' });
    expect(res.statusCode).toBe(200);
    expect(lazy).toBe(true);
    const mine = lines.filter((l) => l.msg !== undefined && String(l.msg).length > 0);
    expect(mine.map((l) => l.msg)).toEqual(['something to see', 'from a child']);
    expect(mine[0]).toMatchObject({ level: 40, key: 'k', reqId: expect.any(String) });
    expect(mine[1]).toMatchObject({ level: 50, part: 'inner', reqId: mine[0]!.reqId });
    await app.close();
  });

  it('gives each request its own id in its lines', async () => {
    const { app, lines } = collectingApp('info');
    app.get('/y', async (req) => {
      req.log.info('hello');
      return 'ok';
    });
    await app.inject({ method: 'GET', url: '/y' });
    await app.inject({ method: 'GET', url: '/y' });
    const ids = lines.filter((l) => l.msg === 'hello').map((l) => l.reqId);
    expect(ids).toHaveLength(2);
    expect(ids[0]).not.toEqual(ids[1]);
    await app.close();
  });

  it('writes the instance log, and errors with their type, message and stack', async () => {
    const { app, lines } = collectingApp('info');
    app.get('/z', async (req) => {
      req.log.error({ err: new TypeError('boom') }, 'it failed');
      return 'ok';
    });
    app.log.warn({ part: 'start' }, 'from the instance');
    await app.inject({ method: 'GET', url: '/z' });
    expect(lines.find((l) => l.msg === 'from the instance')).toMatchObject({ level: 40, part: 'start' });
    const failed = lines.find((l) => l.msg === 'it failed');
    expect(failed).toMatchObject({ level: 50, reqId: expect.any(String), err: { type: 'TypeError', message: 'boom' } });
    expect((failed!.err as { stack: string }).stack).toContain('TypeError: boom');
    await app.close();
  });

  it('makes no pino child for a request that logs nothing, and exactly one for one that does', () => {
    let made = 0;
    const parent = {
      level: 'warn',
      isLevelEnabled: (l: string) => ['warn', 'error', 'fatal'].includes(l),
      child: () => {
        made++;
        return { ...parent, warn: () => undefined, error: () => undefined };
      },
    } as unknown as ConstructorParameters<typeof RequestLogger>[0];
    const quiet = new RequestLogger(parent, { reqId: 'a' });
    quiet.info('not enabled');
    quiet.debug('not enabled');
    expect(quiet.level).toBe('warn');
    expect(made).toBe(0);
    const loud = new RequestLogger(parent, { reqId: 'b' });
    loud.warn('one');
    loud.error('two');
    expect(made).toBe(1);
  });
});
