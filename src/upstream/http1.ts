// One HTTP/1.1 GET whose body is read into the caller's buffers. node:http (and fetch) hand out
// every socket read as a new Buffer and copy each body chunk into another one: at 400 MB/s that
// is ~12,000 ArrayBuffers a second, and V8 answers their external memory with a full
// mark-compact every few tens of MB (bench/README.md, sync.ts: a third of a large-wheel sync's
// CPU and ~100 MiB of resident memory awaiting collection). Here a connection reads into one
// buffer of its own (net/tls `onread`) and body bytes are copied from it straight into the buffer
// the reader passes to read(): nothing is allocated per chunk.
//
// Speaks what a file download needs and no more: GET; bodies framed by Content-Length, chunked
// or the connection's end; 1xx answers skipped; keep-alive with a few idle connections per
// origin. Redirects, credentials and Content-Encoding are file-get.ts's. Never pipelines, never
// reuses a connection whose answer was not read to its end (or that said more than it framed),
// never sends a header value with CR or LF in it, and holds at most READ_BUFFER plus what one
// TLS read yields of a body that its reader is not asking for.
//
// Through the egress proxy (proxy.ts says which requests go through it): an http:// upstream is
// asked in absolute form over a connection to the proxy; an https:// one over TLS (the upstream's
// SNI and certificate checks, as direct) inside a CONNECT tunnel. Either way Proxy-Authorization
// goes to the proxy only, connections are pooled per proxy and upstream origin, and a proxy's
// refusal is a ProxyRefused naming the proxy without its credentials.
import net from 'node:net';
import tls from 'node:tls';
import { proxyFor, type ProxyRoute } from './proxy.js';

/** Size of each connection's socket read buffer (also the largest single socket read). */
const READ_BUFFER = 256 * 1024;
/** Longest answer head (status line and headers) accepted; node:http's default is 16 KiB. */
const MAX_HEAD = 64 * 1024;
/** Longest chunk-size or trailer line. */
const MAX_LINE = 8 * 1024;
/** Bytes a paused connection may hold for its reader (TLS keeps emitting what it has decrypted). */
const MAX_SPILL = 4 * 1024 * 1024;
/** Idle connections kept per origin, and for how long (servers close theirs after 5–75 s). */
const MAX_IDLE = 8;
const IDLE_MS = 4_000;

/** An answer that is not HTTP/1.x as this client reads it (bad framing, an oversized head). */
export class HttpProtocolError extends Error {
  override readonly name = 'HttpProtocolError';
}

/** The connection ended before the answer did. */
export class ConnectionClosed extends Error {
  override readonly name = 'ConnectionClosed';
  readonly code = 'ECONNRESET';
}

/** The proxy would not carry the request: its answer to CONNECT, or a 407 to a proxied GET. */
export class ProxyRefused extends Error {
  override readonly name = 'ProxyRefused';

  constructor(
    /** The proxy, as scheme://host:port (never its credentials). */
    readonly proxy: string,
    /** The proxy's status. */
    readonly status: number,
    /** What was asked: CONNECT host:port, or GET url. */
    asked: string,
  ) {
    const hint =
      status === 407 || status === 401
        ? ' (the proxy wants other credentials: check the user and password in network.proxy.url)'
        : status === 403
          ? ' (the proxy forbids this destination: ask its administrators, or list the host in network.proxy.noProxy)'
          : '';
    super(`proxy ${proxy} refused ${asked}: HTTP ${status}${hint}`);
  }
}

export interface Http1Answer {
  status: number;
  /** Header names in lower case; a repeated field's values joined with ", ". */
  headers: Record<string, string>;
  /** The body's length when Content-Length frames it (undefined: chunked, or until the connection ends). */
  length: number | undefined;
  body: Http1Body;
}

export interface Http1Body {
  /**
   * Copies the next body bytes into `into` at `offset` (at most `length`); resolves with the
   * count, 0 at the end of the body. One read at a time. Rejects with the transfer's error.
   */
  read(into: Buffer, offset: number, length: number): Promise<number>;
  /** True while the connection holds bytes the reader has not taken (reading paused: the reader is what is slow). */
  readonly holding: boolean;
  /** Drops the rest of the body (and the connection); a waiting read rejects with `reason`. */
  destroy(reason?: Error): void;
}

export interface Http1Options {
  /** Aborts the exchange: before the answer the request rejects with the reason, after it the body does. */
  signal: AbortSignal;
  /** Called at every socket read of the exchange, and when reading resumes after a pause (the caller's stall timer). */
  onProgress?: () => void;
}

const HEAD = 0;
const DATA = 1;
const CHUNK_SIZE = 2;
const CHUNK_END = 3;
const TRAILERS = 4;
const DONE = 5;

interface PendingRead {
  into: Buffer;
  offset: number;
  length: number;
  resolve: (n: number) => void;
  reject: (err: Error) => void;
}

/** One request and its answer on a connection. Outlives its hold on the connection: a late read gets 0 or its error. */
class Exchange implements Http1Body {
  phase = HEAD;
  head: Buffer[] = [];
  headBytes = 0;
  line = '';
  framing: 'length' | 'chunked' | 'close' = 'close';
  /** Body bytes left in the current Content-Length body or chunk. */
  left = 0;
  /** Any byte of the answer came (a reused connection that fails before one is retried). */
  answered = false;
  keepAlive = true;
  pending: PendingRead | undefined;
  failed: Error | undefined;
  conn: Conn | undefined;
  readonly result: Promise<Http1Answer>;
  resolveAnswer!: (a: Http1Answer) => void;
  rejectAnswer!: (err: Error) => void;

  private readonly onAbort = () => this.fail(this.opts.signal.reason as Error);

  constructor(readonly opts: Http1Options) {
    this.result = new Promise((resolve, reject) => {
      this.resolveAnswer = resolve;
      this.rejectAnswer = reject;
    });
    opts.signal.addEventListener('abort', this.onAbort, { once: true });
  }

  /** The exchange is over (either way): it no longer listens to the signal. */
  ended(): void {
    this.opts.signal.removeEventListener('abort', this.onAbort);
  }

  get holding(): boolean {
    return this.conn?.holding ?? false;
  }

  read(into: Buffer, offset: number, length: number): Promise<number> {
    if (this.failed) return Promise.reject(this.failed);
    if (this.phase === DONE) return Promise.resolve(0);
    if (this.pending) return Promise.reject(new Error('Http1Body.read: one read at a time'));
    if (length <= 0 || offset + length > into.length) return Promise.reject(new RangeError('Http1Body.read: no room in the buffer'));
    return new Promise((resolve, reject) => {
      this.pending = { into, offset, length, resolve, reject };
      this.conn?.serve();
    });
  }

  destroy(reason?: Error): void {
    if (this.phase === DONE || this.failed) return;
    this.fail(reason ?? new ConnectionClosed('body destroyed'));
  }

  /** Ends the exchange with err (once); its connection is dropped. */
  fail(err: Error): void {
    if (this.phase === DONE || this.failed) return;
    this.failed = err;
    this.ended();
    const conn = this.conn;
    this.conn = undefined;
    this.rejectAnswer(err);
    const p = this.pending;
    this.pending = undefined;
    p?.reject(err);
    conn?.destroy();
  }
}

/** A connection to one origin: its socket, read buffer, and the exchange it is serving (if any). */
class Conn {
  readonly socket: net.Socket;
  private readonly buf = Buffer.allocUnsafeSlow(READ_BUFFER);
  /** Bytes read but not yet taken (the reader was not asking): [spillStart, spillEnd). */
  private spill: Buffer = Buffer.allocUnsafeSlow(0);
  private spillStart = 0;
  private spillEnd = 0;
  private paused = false;
  private ex: Exchange | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  /** Why the connection is over ('end': the server closed it cleanly); bytes kept may still be read. */
  private gone: Error | 'end' | undefined;
  closed = false;
  /** Served an exchange before (a failure before any byte of the next answer may be a stale keep-alive). */
  reused = false;

  constructor(
    readonly origin: string,
    open: (onread: OnRead) => { socket: net.Socket; onread: boolean },
  ) {
    const opened = open({ buffer: this.buf, callback: (n: number) => this.onRead(n) });
    this.socket = opened.socket;
    if (!opened.onread) this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
    this.socket.on('error', (err) => this.lost(err));
    this.socket.on('end', () => this.lost('end'));
    this.socket.on('close', () => this.lost(new ConnectionClosed('connection closed')));
  }

  get holding(): boolean {
    return this.spillEnd > this.spillStart;
  }

  /** Sends the request of ex on this connection. */
  start(ex: Exchange, request: string): void {
    clearTimeout(this.idleTimer);
    this.socket.ref();
    this.ex = ex;
    ex.conn = this;
    this.socket.write(request);
  }

  /** Bytes from the socket (in this.buf); false pauses reading until the reader has taken what was left. */
  private onRead(n: number): boolean {
    return this.onBytes(this.buf, n);
  }

  /**
   * A socket that could not read into this.buf (TLS over a proxy tunnel: Node ignores `onread`
   * when tls.connect wraps a socket) hands its chunks here, read as they are (no copy unless kept).
   */
  private onData(chunk: Buffer): void {
    if (!this.onBytes(chunk, chunk.length)) this.socket.pause();
  }

  /** Bytes src[0, n) from the socket; false pauses reading until the reader has taken what was kept. */
  private onBytes(src: Buffer, n: number): boolean {
    this.ex?.opts.onProgress?.();
    if (this.ex) this.ex.answered = true;
    if (this.spillEnd > this.spillStart) {
      this.keep(src, 0, n);
    } else {
      const used = this.feed(src, 0, n);
      if (used < n) this.keep(src, used, n);
    }
    if (this.spillEnd > this.spillStart) this.paused = true;
    return !this.paused;
  }

  /** Copies bytes the reader has not taken into the spill buffer (TLS may deliver more after a pause). */
  private keep(src: Buffer, start: number, end: number): void {
    const n = end - start;
    if (this.spillStart > 0 && this.spillEnd === this.spillStart) this.spillStart = this.spillEnd = 0;
    if (this.spillEnd + n > this.spill.length) {
      const held = this.spillEnd - this.spillStart;
      if (held + n > MAX_SPILL)
        return this.ex?.fail(new HttpProtocolError(`more than ${MAX_SPILL} bytes arrived while reading was paused`));
      // One socket read fits (TCP stops at a pause); TLS may deliver a few more records: room to grow.
      const want = held + n;
      const next = want > this.spill.length ? Buffer.allocUnsafeSlow(want <= READ_BUFFER ? READ_BUFFER : 2 * want) : this.spill;
      this.spill.copy(next, 0, this.spillStart, this.spillEnd);
      this.spill = next;
      this.spillStart = 0;
      this.spillEnd = held;
    }
    src.copy(this.spill, this.spillEnd, start, end);
    this.spillEnd += n;
  }

  /** A read came: serve it from what was kept, and read the socket again once nothing is kept. */
  serve(): void {
    if (this.spillEnd > this.spillStart) this.spillStart += this.feed(this.spill, this.spillStart, this.spillEnd);
    if (this.spillEnd > this.spillStart) return;
    if (this.gone) return this.settle();
    if (this.paused) {
      // Waiting starts now: the time the reader kept the transfer paused is not the upstream's.
      this.ex?.opts.onProgress?.();
      this.paused = false;
      this.socket.resume();
    }
  }

  /** Parses and hands on bytes src[start, end) for the current exchange; returns how many it took. */
  private feed(src: Buffer, start: number, end: number): number {
    let at = start;
    while (at < end) {
      const ex = this.ex;
      if (!ex) {
        // Nothing was asked: a server talking out of turn cannot be trusted with the next request.
        this.destroy();
        return end - start;
      }
      if (ex.phase === HEAD) at = this.readHead(ex, src, at, end);
      else if (ex.phase === DATA) {
        const p = ex.pending;
        if (!p) break;
        let n = Math.min(end - at, p.length);
        if (ex.framing !== 'close') n = Math.min(n, ex.left);
        src.copy(p.into, p.offset, at, at + n);
        at += n;
        ex.pending = undefined;
        if (ex.framing !== 'close') {
          ex.left -= n;
          if (ex.left === 0 && ex.framing === 'length') this.finish(ex);
          else if (ex.left === 0) ex.phase = CHUNK_END;
        }
        p.resolve(n);
      } else at = this.readFraming(ex, src, at, end);
    }
    return at - start;
  }

  private readHead(ex: Exchange, src: Buffer, start: number, end: number): number {
    // The blank line may straddle two reads: look again from up to 3 bytes back.
    const before = ex.headBytes;
    ex.head.push(src.subarray(start, end));
    ex.headBytes += end - start;
    const head = ex.head.length === 1 ? ex.head[0]! : Buffer.concat(ex.head);
    const blank = headEnd(head, Math.max(0, before - 3));
    if (blank === undefined) {
      if (ex.headBytes > MAX_HEAD) ex.fail(new HttpProtocolError(`answer head longer than ${MAX_HEAD} bytes`));
      else ex.head = [Buffer.from(head)]; // a copy: src is reused by the next read
      return end;
    }
    ex.head = [];
    ex.headBytes = 0;
    if (blank.bodyAt > MAX_HEAD) {
      ex.fail(new HttpProtocolError(`answer head longer than ${MAX_HEAD} bytes`));
      return end;
    }
    let parsed: ParsedHead;
    try {
      parsed = parseHead(head.toString('latin1', 0, blank.headAt));
    } catch (err) {
      ex.fail(err as Error);
      return end;
    }
    const used = blank.bodyAt - before;
    if (parsed.status === 101) {
      ex.fail(new HttpProtocolError('101 Switching Protocols to a request that asked for no upgrade'));
      return end;
    }
    if (parsed.status < 200) return start + used; // 100 Continue, 103 Early Hints: the real answer follows
    this.answer(ex, parsed);
    return start + used;
  }

  private answer(ex: Exchange, head: ParsedHead): void {
    const { status, headers, version } = head;
    ex.keepAlive = version === '1.1' && !/(^|,)\s*close\s*(,|$)/i.test(headers.connection ?? '');
    let length: number | undefined;
    const te = headers['transfer-encoding'];
    if (status === 204 || status === 304) {
      ex.framing = 'length';
      ex.left = 0;
    } else if (te !== undefined) {
      // RFC 9112 6.3: chunked last frames the body; any other coding runs to the connection's end.
      ex.framing = /(^|,)\s*chunked\s*$/i.test(te) ? 'chunked' : 'close';
      if (headers['content-length'] !== undefined) ex.keepAlive = false;
    } else if (headers['content-length'] !== undefined) {
      const values = new Set(headers['content-length'].split(',').map((v) => v.trim()));
      const [value] = values;
      if (values.size !== 1 || !/^\d{1,15}$/.test(value!))
        return ex.fail(new HttpProtocolError(`invalid Content-Length ${headers['content-length']}`));
      ex.framing = 'length';
      ex.left = length = Number(value);
    } else ex.framing = 'close';
    if (ex.framing === 'close') ex.keepAlive = false;
    ex.phase = ex.framing === 'chunked' ? CHUNK_SIZE : DATA;
    ex.resolveAnswer({ status, headers, length, body: ex });
    if (ex.framing === 'length' && ex.left === 0) this.finish(ex);
  }

  /** Chunk-size lines, the CRLF after a chunk, trailers. */
  private readFraming(ex: Exchange, src: Buffer, start: number, end: number): number {
    const nl = src.indexOf(10, start);
    const stop = nl === -1 || nl >= end ? end : nl;
    ex.line += src.toString('latin1', start, stop);
    if (ex.line.length > MAX_LINE) {
      ex.fail(new HttpProtocolError(`chunked framing line longer than ${MAX_LINE} bytes`));
      return end;
    }
    if (stop === end) return end;
    const line = ex.line.endsWith('\r') ? ex.line.slice(0, -1) : ex.line;
    ex.line = '';
    if (ex.phase === CHUNK_SIZE) {
      const size = /^([0-9a-fA-F]{1,12})[ \t]*(;.*)?$/.exec(line);
      if (!size) {
        ex.fail(new HttpProtocolError(`invalid chunk size line ${JSON.stringify(line.slice(0, 40))}`));
        return end;
      }
      ex.left = parseInt(size[1]!, 16);
      ex.phase = ex.left === 0 ? TRAILERS : DATA;
    } else if (ex.phase === CHUNK_END) {
      if (line !== '') {
        ex.fail(new HttpProtocolError('chunk longer than its size'));
        return end;
      }
      ex.phase = CHUNK_SIZE;
    } else if (line === '') this.finish(ex); // the blank line after the trailers
    return stop + 1;
  }

  /** The body ended as framed: the reader gets 0; the connection goes back to the pool if it may. */
  private finish(ex: Exchange): void {
    ex.phase = DONE;
    ex.conn = undefined;
    this.ex = undefined;
    const p = ex.pending;
    ex.pending = undefined;
    ex.ended();
    p?.resolve(0);
    if (ex.keepAlive && !this.gone && !this.closed) release(this);
    else this.destroy();
  }

  /** The socket ended, failed or closed (the first reason stands). */
  private lost(why: Error | 'end'): void {
    this.gone ??= why;
    this.closed = true;
    forget(this);
    this.settle();
  }

  /**
   * After the socket is gone and the reader has taken every kept byte: a body that runs to the
   * connection's end is complete, any other exchange was cut off.
   */
  private settle(): void {
    const ex = this.ex;
    if (!ex || this.spillEnd > this.spillStart) return;
    if (this.gone === 'end' && ex.framing === 'close' && ex.phase === DATA) this.finish(ex);
    else ex.fail(this.gone === 'end' || !this.gone ? new ConnectionClosed('connection closed before the end of the answer') : this.gone);
  }

  /** Waits in the pool: unreferenced (never keeps the process alive), dropped after IDLE_MS. */
  idle(): void {
    this.reused = true;
    this.socket.unref();
    this.idleTimer = setTimeout(() => this.destroy(), IDLE_MS);
    this.idleTimer.unref();
  }

  destroy(): void {
    clearTimeout(this.idleTimer);
    this.closed = true;
    this.ex = undefined;
    forget(this);
    this.socket.destroy();
  }
}

/** net/tls `onread`: the connection's own buffer, and what to do with each read. */
interface OnRead {
  buffer: Buffer;
  callback: (n: number) => boolean;
}

function hostOf(url: URL): string {
  return url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
}

function portOf(url: URL): number {
  return Number(url.port) || (url.protocol === 'https:' ? 443 : 80);
}

/**
 * A connection to url's host: TLS for https: (over `tunnel` when given), TCP otherwise.
 * tls.connect hands `onread` to its TLSSocket as net.connect does (Node's types leave it out),
 * but not over a given socket (`onread` false: the caller reads 'data'); it sends SNI only when
 * told the name (https.Agent does the same); `host` is also the name the certificate is checked
 * against, tunnel or not.
 */
function dial(url: URL, onread?: OnRead, tunnel?: net.Socket): { socket: net.Socket; onread: boolean } {
  const host = hostOf(url);
  const port = portOf(url);
  const read = onread ? { onread } : {};
  if (url.protocol !== 'https:') return { socket: net.connect({ host, port, ...read }), onread: onread !== undefined };
  const servername = net.isIP(host) ? undefined : host;
  if (tunnel) return { socket: tls.connect({ host, port, servername, socket: tunnel }), onread: false };
  return { socket: tls.connect({ host, port, servername, ...read } as tls.ConnectionOptions), onread: onread !== undefined };
}

/**
 * A CONNECT tunnel through the proxy to target's host and port: resolves with the socket once
 * the proxy answered 2xx, rejects with ProxyRefused for any other answer, with the socket's error
 * (the proxy unreachable), or with the signal's reason.
 */
function openTunnel(route: ProxyRoute, target: URL, signal: AbortSignal): Promise<net.Socket> {
  const authority = `${target.hostname}:${portOf(target)}`;
  const { socket } = dial(route.url);
  return new Promise((resolve, reject) => {
    let head = Buffer.alloc(0);
    const done = (err?: Error) => {
      socket.off('data', onData);
      socket.off('error', done);
      socket.off('close', onClose);
      signal.removeEventListener('abort', onAbort);
      if (!err) return resolve(socket);
      socket.destroy();
      reject(err);
    };
    const onAbort = () => done(signal.reason as Error);
    const onClose = () => done(new ConnectionClosed(`proxy ${route.name} closed the connection before answering CONNECT ${authority}`));
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      const blank = headEnd(head, 0);
      if (!blank) {
        if (head.length > MAX_HEAD) done(new HttpProtocolError(`proxy ${route.name}: answer to CONNECT longer than ${MAX_HEAD} bytes`));
        return;
      }
      let status: number;
      try {
        status = parseHead(head.toString('latin1', 0, blank.headAt)).status;
      } catch (err) {
        return done(new HttpProtocolError(`proxy ${route.name}: ${(err as Error).message}`));
      }
      if (status < 200 || status > 299) return done(new ProxyRefused(route.name, status, `CONNECT ${authority}`));
      // The upstream speaks only after our TLS hello: bytes here would be the proxy's, not the upstream's.
      if (blank.bodyAt < head.length) return done(new HttpProtocolError(`proxy ${route.name} sent bytes after its answer to CONNECT`));
      done();
    };
    socket.on('data', onData);
    socket.once('error', done);
    socket.once('close', onClose);
    signal.addEventListener('abort', onAbort, { once: true });
    const auth = route.authorization ? `Proxy-Authorization: ${route.authorization}\r\n` : '';
    socket.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n${auth}\r\n`);
  });
}

/** A new connection for url: direct, to the proxy (http: in absolute form), or TLS inside a CONNECT tunnel (https:). */
async function connect(origin: string, url: URL, route: ProxyRoute | undefined, signal: AbortSignal): Promise<Conn> {
  if (!route) return new Conn(origin, (onread) => dial(url, onread));
  if (url.protocol === 'http:') return new Conn(origin, (onread) => dial(route.url, onread));
  const tunnel = await openTunnel(route, url, signal);
  // The TLS socket reports the tunnel's failures; the tunnel must not also throw them unheard.
  tunnel.on('error', () => undefined);
  const conn = new Conn(origin, (onread) => dial(url, onread, tunnel));
  conn.socket.once('close', () => tunnel.destroy());
  return conn;
}

const pool = new Map<string, Conn[]>();

function release(conn: Conn): void {
  const idle = pool.get(conn.origin) ?? [];
  if (idle.length >= MAX_IDLE) return conn.destroy();
  idle.push(conn);
  pool.set(conn.origin, idle);
  conn.idle();
}

function forget(conn: Conn): void {
  const idle = pool.get(conn.origin);
  const at = idle?.indexOf(conn) ?? -1;
  if (at >= 0) idle!.splice(at, 1);
  if (idle?.length === 0) pool.delete(conn.origin);
}

function take(origin: string): Conn | undefined {
  const idle = pool.get(origin);
  for (let conn = idle?.pop(); conn; conn = idle?.pop()) {
    if (!conn.closed && !conn.socket.destroyed) {
      forget(conn);
      return conn;
    }
  }
  return undefined;
}

interface ParsedHead {
  version: '1.0' | '1.1';
  status: number;
  headers: Record<string, string>;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** Status line and header fields (RFC 9112); obsolete line folding is refused. */
function parseHead(text: string): ParsedHead {
  const lines = text.split(/\r?\n/);
  const status = /^HTTP\/1\.([01]) (\d{3})(?: .*)?$/.exec(lines[0]!);
  if (!status) throw new HttpProtocolError(`not an HTTP/1.x status line: ${JSON.stringify(lines[0]!.slice(0, 40))}`);
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon);
    if (colon <= 0 || !TOKEN.test(name)) throw new HttpProtocolError(`invalid header line ${JSON.stringify(line.slice(0, 40))}`);
    const key = name.toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[key] = headers[key] === undefined ? value : `${headers[key]}, ${value}`;
  }
  return { version: status[1] === '1' ? '1.1' : '1.0', status: Number(status[2]), headers };
}

/** Where the head's blank line is (CRLF CRLF, or bare LFs): the head's end and the body's start. */
function headEnd(buf: Buffer, from: number): { headAt: number; bodyAt: number } | undefined {
  for (let nl = buf.indexOf(10, from); nl !== -1; nl = buf.indexOf(10, nl + 1)) {
    if (buf[nl + 1] === 10) return { headAt: nl > 0 && buf[nl - 1] === 13 ? nl - 1 : nl, bodyAt: nl + 2 };
    if (buf[nl + 1] === 13 && buf[nl + 2] === 10) return { headAt: nl > 0 && buf[nl - 1] === 13 ? nl - 1 : nl, bodyAt: nl + 3 };
  }
  return undefined;
}

/** The request's head; `proxy`: sent to that proxy in absolute form, with its Proxy-Authorization. */
function requestText(url: URL, headers: Record<string, string>, proxy?: ProxyRoute): string {
  const target = proxy ? `${url.protocol}//${url.host}${url.pathname}${url.search}` : `${url.pathname}${url.search}`;
  let text = `GET ${target} HTTP/1.1\r\nHost: ${url.host}\r\n`;
  if (proxy?.authorization) text += `Proxy-Authorization: ${proxy.authorization}\r\n`;
  for (const [name, value] of Object.entries(headers)) {
    if (!TOKEN.test(name) || /[\r\n\0]/.test(value)) throw new TypeError(`invalid request header ${JSON.stringify(name)}`);
    const lower = name.toLowerCase();
    if (lower === 'host' || lower === 'connection' || lower === 'content-length' || lower === 'transfer-encoding') continue;
    if (lower === 'proxy-authorization') continue; // the proxy's credentials are network.proxy's, never a caller's
    text += `${name}: ${value}\r\n`;
  }
  return `${text}Connection: keep-alive\r\n\r\n`;
}

/**
 * GET url (http or https) with headers; resolves with the answer once its head came (any
 * status), its body to be read or destroyed. Rejects with the socket's error (refused, reset,
 * TLS), an HttpProtocolError, a ProxyRefused, or the signal's reason. A request on a kept-alive connection that
 * fails before any byte of the answer is sent once more on a new connection (the server may have
 * closed it meanwhile; a GET may be repeated).
 */
export async function http1Get(url: URL, headers: Record<string, string>, opts: Http1Options): Promise<Http1Answer> {
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TypeError(`http1Get: cannot fetch a ${url.protocol} URL`);
  const route = proxyFor(url);
  const absolute = route && url.protocol === 'http:' ? route : undefined;
  const request = requestText(url, headers, absolute);
  // Pooled per proxy (credentials included) and upstream origin: a tunnel leads to one origin only.
  const origin = route ? `${route.key} ${url.protocol}//${url.host}` : `${url.protocol}//${url.host}`;
  for (;;) {
    opts.signal.throwIfAborted();
    const conn = take(origin) ?? (await connect(origin, url, route, opts.signal));
    if (opts.signal.aborted) {
      conn.destroy(); // aborted while connecting: the exchange below would never hear of it
      throw opts.signal.reason;
    }
    const ex = new Exchange(opts);
    conn.start(ex, request);
    try {
      const answer = await ex.result;
      // Only a proxy answers 407: the upstream was never asked.
      if (absolute && answer.status === 407) {
        answer.body.destroy();
        throw new ProxyRefused(absolute.name, 407, `GET ${url.protocol}//${url.host}${url.pathname}`);
      }
      return answer;
    } catch (err) {
      if (err instanceof ProxyRefused) throw err;
      if (conn.reused && !ex.answered && !opts.signal.aborted) continue;
      throw err;
    }
  }
}
