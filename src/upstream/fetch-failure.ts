// Says why a request to an upstream failed, in words an operator can act on. Node's fetch
// (undici) rejects with a bare "fetch failed" and keeps the reason one or two levels down in
// `cause` (ECONNREFUSED with the address, DNS, TLS, a reset), sometimes as an AggregateError
// of every address tried; a timeout is a DOMException named TimeoutError. Never includes a URL
// or headers (callers name the URL, without credentials), so nothing secret can leak here.

interface NodeLikeError {
  name?: string;
  message?: string;
  code?: string;
  address?: string;
  port?: number;
  hostname?: string;
  cause?: unknown;
  errors?: unknown[];
}

// OpenSSL's certificate verification codes and Node's TLS/SSL ones.
const TLS_CODE = /^(CERT_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_|HOSTNAME_MISMATCH|ERR_TLS_|ERR_SSL_|ERR_OSSL_)/;

/** "connection refused (ECONNREFUSED 127.0.0.1:8080)", "timed out after 60000 ms", "TLS error: …". */
export function describeFetchFailure(err: unknown, timeoutMs?: number): string {
  const e = (err ?? {}) as NodeLikeError;
  if (e.name === 'TimeoutError') return timeoutMs !== undefined ? `timed out after ${timeoutMs} ms` : 'timed out';
  const root = rootCause(err);
  const code = root.code;
  const where = root.address !== undefined ? ` ${root.address}${root.port !== undefined ? `:${root.port}` : ''}` : '';
  if (code === 'ECONNREFUSED') return `connection refused (ECONNREFUSED${where})`;
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return `host name not resolved (${code}${root.hostname ? ` ${root.hostname}` : ''})`;
  if (code === 'ETIMEDOUT' || code === 'UND_ERR_CONNECT_TIMEOUT') return `connect timed out (${code}${where})`;
  if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET' || code === 'EPIPE')
    return `connection closed by the upstream (${code}${where}: ${root.message ?? ''})`;
  if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH') return `no route to host (${code}${where})`;
  if (code && TLS_CODE.test(code)) return `TLS error: ${root.message ?? code} (${code})`;
  const message = root.message || e.message || String(err);
  return code ? `${message} (${code})` : message;
}

/** The innermost cause that says something (a code, or a message other than undici's wrapper's). */
function rootCause(err: unknown): NodeLikeError {
  let e = (err ?? {}) as NodeLikeError;
  for (let depth = 0; depth < 5; depth++) {
    // Happy eyeballs tries every address; the first error stands for all of them.
    if (!e.code && Array.isArray(e.errors) && e.errors.length) e = e.errors[0] as NodeLikeError;
    else if (e.cause && typeof e.cause === 'object') e = e.cause as NodeLikeError;
    else break;
  }
  return e;
}
