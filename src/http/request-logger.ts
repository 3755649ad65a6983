// The per-request logger fastify hands every request (req.log): pino's child logger carrying the
// request id, made only when the request logs something. fastify asks for one child per request,
// and making a pino child (bindings serialised, an object per request) was a measurable part of a
// cached index page's cost (bench/pypi-index.ts) though almost no request ever logs. It must never
// drop or alter a line: anything logged at an enabled level goes through the real child, with the
// same bindings and options fastify gave.
import type { FastifyBaseLogger, FastifyServerOptions } from 'fastify';

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
 * fastify's childLoggerFactory: a lazy RequestLogger when the route sets no level or serializers
 * of its own (the common case), else pino's child at once, exactly as fastify's default does.
 */
export const requestLoggerFactory: NonNullable<FastifyServerOptions['childLoggerFactory']> = (logger, bindings, opts) => {
  if (opts.level !== undefined || opts.serializers !== undefined) return logger.child(bindings, opts);
  return new RequestLogger(logger, bindings);
};
