// The server's logger (pino) and the per-request logger fastify hands every request (req.log):
// pino's child carrying the request id, made only when the request logs something. fastify asks
// for one child per request, and making a pino child (bindings serialised, an object per request)
// was a measurable part of a cached index page's cost (bench/pypi-index.ts) though almost no
// request ever logs. fastify itself is given no logger (http/app.ts says why), so the server's
// logger is made here with the serializers fastify would have added. It must never drop or alter
// a line: anything logged at an enabled level goes through the real child, with the same bindings
// and options fastify gave.
import { LogController, type FastifyBaseLogger, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import { pino } from 'pino';

type Bindings = Parameters<FastifyBaseLogger['child']>[0];
type ChildOptions = NonNullable<Parameters<FastifyBaseLogger['child']>[1]>;
type Level = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';
type Log = (...args: unknown[]) => void;

/** Is `level` enabled on this logger (pino's isLevelEnabled; a logger without it logs everything it is given). */
function enabled(logger: FastifyBaseLogger, level: Level): boolean {
  const check = (logger as { isLevelEnabled?: (l: string) => boolean }).isLevelEnabled;
  return check === undefined || check.call(logger, level);
}

export class RequestLogger implements FastifyBaseLogger {
  private made: FastifyBaseLogger | undefined;

  constructor(
    private readonly parent: FastifyBaseLogger,
    private readonly bindings: Bindings,
  ) {}

  /** The real child logger, made on first use. */
  private real(): FastifyBaseLogger {
    return (this.made ??= this.parent.child(this.bindings));
  }

  private log(level: Level, args: unknown[]): void {
    if (this.made === undefined && !enabled(this.parent, level)) return;
    (this.real()[level] as Log)(...args);
  }

  get level(): string {
    return (this.made ?? this.parent).level;
  }

  set level(value: string) {
    this.real().level = value;
  }

  fatal(...args: unknown[]): void {
    this.log('fatal', args);
  }
  error(...args: unknown[]): void {
    this.log('error', args);
  }
  warn(...args: unknown[]): void {
    this.log('warn', args);
  }
  info(...args: unknown[]): void {
    this.log('info', args);
  }
  debug(...args: unknown[]): void {
    this.log('debug', args);
  }
  trace(...args: unknown[]): void {
    this.log('trace', args);
  }
  silent(...args: unknown[]): void {
    (this.real().silent as Log)(...args);
  }

  child(bindings: Bindings, options?: ChildOptions): FastifyBaseLogger {
    return this.real().child(bindings, options);
  }
}

/**
 * The server's logger: pino at `level`, with the serializers fastify gives its own pino logger
 * (`req` and `res` summarised, `err` with its stack), so every line reads as it did when fastify
 * made the logger.
 */
function createServerLogger(level: string, stream?: NodeJS.WritableStream): FastifyBaseLogger {
  const options = {
    level,
    serializers: {
      req: (req: FastifyRequest) => ({
        method: req.method,
        url: req.url,
        version: req.headers?.['accept-version'],
        host: req.host,
        remoteAddress: req.ip,
        remotePort: req.socket?.remotePort,
      }),
      res: (reply: FastifyReply) => ({ statusCode: reply.statusCode }),
      err: pino.stdSerializers.err,
    },
  };
  return stream ? pino(options, stream) : pino(options);
}

/**
 * fastify's childLoggerFactory, for an app given no logger of its own: children of `logger` (not of
 * the parent fastify passes, its silent stand-in). A lazy RequestLogger when the route sets no
 * level or serializers of its own (the common case), else pino's child at once, exactly as
 * fastify's default does.
 */
function requestLoggerFactory(logger: FastifyBaseLogger): NonNullable<FastifyServerOptions['childLoggerFactory']> {
  return (_fastifyLogger, bindings, opts) => {
    if (opts.level !== undefined || opts.serializers !== undefined) return logger.child(bindings, opts);
    return new RequestLogger(logger, bindings);
  };
}

/**
 * How an app logs: the fastify options (no logger of fastify's own, no per-request lines, req.log
 * from requestLoggerFactory) and the logger to set as the instance's `log` once it is made.
 * Given a logger, fastify adds a 'finish' and an 'error' listener and reads the clock twice on
 * every response, for "request completed" lines that are turned off here anyway.
 */
export function appLogging(
  level: string,
  stream?: NodeJS.WritableStream,
): {
  log: FastifyBaseLogger;
  options: Pick<FastifyServerOptions, 'logger' | 'logController' | 'childLoggerFactory'>;
} {
  const log = createServerLogger(level, stream);
  return {
    log,
    options: {
      logger: false,
      logController: new LogController({ disableRequestLogging: true }),
      childLoggerFactory: requestLoggerFactory(log),
    },
  };
}
