// HTTP/1.1 over a bare TCP socket, for tests that must put bytes on the wire that no HTTP
// client would send (invalid percent-encodings, raw non-ASCII in the request line, broken
// headers). One request per connection (the caller sends Connection: close); the answer is
// parsed just enough to read its final status and its decoded body. Never follows redirects.
import { connect } from 'node:net';
import { gunzipSync } from 'node:zlib';

export interface RawAnswer {
  /** The final (non-1xx) status; undefined when the server closed without answering. */
  status: number | undefined;
  headers: Record<string, string>;
  /** The body with chunked framing and gzip removed where present. */
  body: Buffer;
  /** Everything the server sent, as received. */
  raw: Buffer;
}

/** Sends `request` as is and reads until the server closes the connection (or `ms` pass). */
export function sendRaw(port: number, request: Buffer, ms = 15_000): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = connect(port, '127.0.0.1');
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no complete answer within ${ms} ms`));
    }, ms);
    // write, not end: a half-closed socket makes node abort a request still being worked on.
    socket.on('connect', () => socket.write(request));
    socket.on('data', (d: Buffer) => chunks.push(d));
    // A reset after the answer was written (the server closed while bytes were unread) is still an answer.
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(parseAnswer(Buffer.concat(chunks)));
    });
  });
}

/** Splits the last response off any 1xx interim responses and decodes its body. */
export function parseAnswer(raw: Buffer): RawAnswer {
  let rest = raw;
  for (;;) {
    const end = rest.indexOf('\r\n\r\n');
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(rest.subarray(0, 16).toString('latin1'));
    if (end < 0 || !m) return { status: undefined, headers: {}, body: Buffer.alloc(0), raw };
    const status = Number(m[1]);
    const headers: Record<string, string> = {};
    for (const line of rest.subarray(0, end).toString('latin1').split('\r\n').slice(1)) {
      const colon = line.indexOf(':');
      if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    rest = rest.subarray(end + 4);
    if (status >= 100 && status < 200) continue;
    return { status, headers, body: decodeBody(rest, headers), raw };
  }
}

function decodeBody(body: Buffer, headers: Record<string, string>): Buffer {
  let out = body;
  if (/chunked/i.test(headers['transfer-encoding'] ?? '')) out = dechunk(body);
  if (/gzip/i.test(headers['content-encoding'] ?? '')) {
    try {
      out = gunzipSync(out);
    } catch {
      // A truncated or bogus gzip body is checked as the bytes it is.
    }
  }
  return out;
}

function dechunk(body: Buffer): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  while (at < body.length) {
    const eol = body.indexOf('\r\n', at);
    if (eol < 0) break;
    const size = parseInt(body.subarray(at, eol).toString('latin1'), 16);
    if (!Number.isFinite(size) || size <= 0) break;
    parts.push(body.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
  return Buffer.concat(parts);
}
