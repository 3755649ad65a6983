// Errors as values: every failure a user can cause or meet is declared here once, with a
// stable code, an HTTP status and a message that says what to do. The HTTP edge maps them to
// problem+json (and to each client's dialect); the CLI prints the message.

export class SafelistError extends Error {
  constructor(
    readonly code: string,
    readonly status: number,
    readonly title: string,
    message: string,
    /** Extra RFC 9457 members (e.g. the exception-request hint). */
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

export const errors = {
  badRequest: (message: string) => new SafelistError('BAD_REQUEST', 400, 'Bad request', message),
  invalidName: (message: string) => new SafelistError('INVALID_NAME', 400, 'Invalid name', message),
  unknownView: (view: string, views: string[]) =>
    new SafelistError('UNKNOWN_VIEW', 404, 'Unknown view', `view "${view}" does not exist; configured views: ${views.join(', ')}`),
  unauthenticated: (message: string) => new SafelistError('UNAUTHENTICATED', 401, 'Authentication required', message),
  forbidden: (message: string) => new SafelistError('FORBIDDEN', 403, 'Forbidden', message),
  conflict: (message: string) => new SafelistError('CONFLICT', 409, 'Conflict', message),
  notFound: (what: string) => new SafelistError('NOT_FOUND', 404, 'Not found', what),
  blockedByPolicy: (message: string, extra: Record<string, unknown> = {}) =>
    new SafelistError('BLOCKED_BY_POLICY', 403, 'Blocked by Safelist policy', message, extra),
  notAcceptable: (offered: string[]) =>
    new SafelistError('NOT_ACCEPTABLE', 406, 'Not acceptable', `this resource is available as ${offered.join(', ')}; adjust the Accept header`),
  rangeNotSatisfiable: (size: number) =>
    new SafelistError('RANGE_NOT_SATISFIABLE', 416, 'Range not satisfiable', `the requested range is outside the file (size ${size} bytes)`, { size }),
  uriTooLong: () =>
    new SafelistError('URI_TOO_LONG', 414, 'URI too long', 'a path segment is longer than 300 characters; project names and file names are never that long'),
  unavailable: (message: string) => new SafelistError('UNAVAILABLE', 503, 'Service unavailable', message),
};
