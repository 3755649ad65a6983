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

/** The codes of the read path's refusals, declared once: call sites test with the predicates below, never with a string. */
export const REFUSAL_CODES = { blocked: 'BLOCKED_BY_POLICY', notFound: 'NOT_FOUND' } as const;

/** A refusal of the read path as a value: the policy's (403, with its reason) or "not here" (404). */
export type Refusal = SafelistError & { readonly code: (typeof REFUSAL_CODES)[keyof typeof REFUSAL_CODES] };

/** Is this the policy refusing (403 with the reason clients print)? */
export function isBlockedByPolicy(err: unknown): err is Refusal {
  return err instanceof SafelistError && err.code === REFUSAL_CODES.blocked;
}

/** Is this a refusal of the read path (blocked by policy, or nothing to serve): demand insight counts both. */
export function isRefusal(err: unknown): err is Refusal {
  return err instanceof SafelistError && (err.code === REFUSAL_CODES.blocked || err.code === REFUSAL_CODES.notFound);
}

/** The code of errors.lockLost (the job runner tells a lost lock from the job's own failures by it). */
export const LOCK_LOST = 'LOCK_LOST';

export const errors = {
  badRequest: (message: string) => new SafelistError('BAD_REQUEST', 400, 'Bad request', message),
  /** Text no database can store; `field` is its JSON path (or parameter name) within `source`. */
  unstorableText: (source: 'query' | 'path' | 'body', field: string, problem: string) =>
    new SafelistError(
      'INVALID_TEXT',
      400,
      'Invalid text',
      `${{ query: 'query parameter', path: 'path parameter', body: 'request body field' }[source]} ${field || '(the whole body)'} ${problem}`,
      { source, field },
    ),
  invalidName: (message: string) => new SafelistError('INVALID_NAME', 400, 'Invalid name', message),
  unknownView: (view: string, views: string[]) =>
    new SafelistError('UNKNOWN_VIEW', 404, 'Unknown view', `view "${view}" does not exist; configured views: ${views.join(', ')}`),
  unauthenticated: (message: string) => new SafelistError('UNAUTHENTICATED', 401, 'Authentication required', message),
  forbidden: (message: string) => new SafelistError('FORBIDDEN', 403, 'Forbidden', message),
  /** A valid token that is not granted reading this view's packages (auth.tokens read, the Reader app role). */
  readNotGranted: (message: string, view: string) => new SafelistError('READ_NOT_GRANTED', 403, 'Read not granted', message, { view }),
  conflict: (message: string) => new SafelistError('CONFLICT', 409, 'Conflict', message),
  notFound: (what: string) => new SafelistError(REFUSAL_CODES.notFound, 404, 'Not found', what),
  blockedByPolicy: (message: string, extra: Record<string, unknown> = {}) =>
    new SafelistError(REFUSAL_CODES.blocked, 403, 'Blocked by Safelist policy', message, extra),
  notAcceptable: (offered: string[]) =>
    new SafelistError(
      'NOT_ACCEPTABLE',
      406,
      'Not acceptable',
      `this resource is available as ${offered.join(', ')}; adjust the Accept header`,
    ),
  rangeNotSatisfiable: (size: number) =>
    new SafelistError(
      'RANGE_NOT_SATISFIABLE',
      416,
      'Range not satisfiable',
      `the requested range is outside the file (size ${size} bytes)`,
      { size },
    ),
  uriTooLong: () =>
    new SafelistError(
      'URI_TOO_LONG',
      414,
      'URI too long',
      'a path segment is longer than 300 characters; project names and file names are never that long',
    ),
  /** A request only server.publicUrl can answer (a wildcard listen address names no host). */
  publicUrlUnset: (message: string) => new SafelistError('PUBLIC_URL_UNSET', 409, 'Public URL not configured', message),
  unavailable: (message: string) => new SafelistError('UNAVAILABLE', 503, 'Service unavailable', message),
  /**
   * A job's lock went with the connection that held it (db.tryWithLock): another replica may take
   * it now, so the run stops (its signal aborts with this) and is recorded as failed.
   */
  lockLost: (why: string) =>
    new SafelistError(LOCK_LOST, 503, 'Job lock lost', `lost its lock: database connection dropped (${why}); run it again`),
  /** Never sent over HTTP: `safelist serve` prints it and exits. */
  listenFailed: (message: string) => new SafelistError('LISTEN_FAILED', 500, 'Cannot listen', message),
  /** The embedded database folder is held by another process (state/folder-lock.ts). */
  databaseInUse: (message: string) => new SafelistError('DATABASE_IN_USE', 409, 'Database in use', message),
};

/**
 * Errors of the distribution API (/v2/), with the OCI spec's codes. Their message is what
 * docker and skopeo print after the code ("denied: <message>"), so it carries the whole story.
 */
export const ociErrors = {
  nameInvalid: (message: string) => new SafelistError('NAME_INVALID', 400, 'Invalid repository name', message),
  digestInvalid: (message: string) => new SafelistError('DIGEST_INVALID', 400, 'Invalid digest', message),
  tagInvalid: (message: string) => new SafelistError('TAG_INVALID', 400, 'Invalid tag', message),
  nameUnknown: (message: string) => new SafelistError('NAME_UNKNOWN', 404, 'Unknown repository', message),
  manifestUnknown: (message: string) => new SafelistError('MANIFEST_UNKNOWN', 404, 'Unknown manifest', message),
  blobUnknown: (message: string) => new SafelistError('BLOB_UNKNOWN', 404, 'Unknown blob', message),
  denied: (message: string, extra: Record<string, unknown> = {}) =>
    new SafelistError('DENIED', 403, 'Blocked by Safelist policy', message, extra),
  unsupported: (message: string) => new SafelistError('UNSUPPORTED', 405, 'Unsupported operation', message),
};

/**
 * The policy files (allowlists/, exceptions/) have problems, each with file and line as the
 * lint prints them. The last good files stay in force; the admin reload answers 422 with the list.
 */
export class PolicyError extends SafelistError {
  constructor(readonly problems: Array<{ file: string; line: number; message: string }>) {
    super(
      'POLICY_INVALID',
      422,
      'Invalid policy files',
      `policy has ${problems.length} problem(s):\n${problems.map((p) => `  ${p.file}:${p.line}: ${p.message}`).join('\n')}`,
      { problems },
    );
  }
}
