// Reads an upstream simple index: PEP 691 JSON when it offers it, PEP 503 HTML otherwise.
// Only the sync job calls this; the read path never contacts an upstream. Every file must
// come with a sha256 from the upstream, or it is unusable (nothing unverified is stored).
// A PEP 792 project status (JSON "project-status", HTML pypi:project-status meta) is read so
// the sync can relay it; an unknown status is treated as active, as the standard says.
import { Parser } from 'htmlparser2';
import type { PypiUpstreamConfig } from './config.js';
import { parseDistFilename } from './names.js';
import { drain, headFile, openStream, send, statusError, unreachable, withRetries } from '../../upstream/http.js';
import { UPSTREAM, UpstreamError, type UpstreamBody, type UpstreamClient, type UpstreamOptions } from '../../upstream/types.js';

export interface UpstreamFile {
  filename: string;
  url: string;
  version: string;
  sha256: string | undefined;
  size: number | undefined;
  requiresPython: string | null;
  uploadTime: Date | null;
  yanked: string | null;
  /** sha256 of the PEP 658 metadata file when the upstream offers one (true = offered, no hash). */
  coreMetadata: string | true | undefined;
}

export interface UpstreamProject {
  name: string;
  files: UpstreamFile[];
  format: 'json' | 'html';
  /** PEP 792 status other than active, when the upstream gives one. */
  status?: UpstreamStatus;
}

export interface UpstreamStatus {
  status: 'archived' | 'deprecated' | 'quarantined';
  reason?: string;
}

const RELAYED = new Set(['archived', 'deprecated', 'quarantined']);
/** Longest upstream reason kept (it is shown in every page of the project). */
const MAX_REASON = 1000;

function upstreamStatus(status: unknown, reason: unknown): UpstreamStatus | undefined {
  if (typeof status !== 'string' || !RELAYED.has(status)) return undefined;
  const r = typeof reason === 'string' ? reason.trim().slice(0, MAX_REASON) : '';
  return { status: status as UpstreamStatus['status'], ...(r ? { reason: r } : {}) };
}

const ACCEPT = 'application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01';

/** A file to open: its URL, and the sha256 the index announced (checked as the bytes stream). */
export interface PypiFileRef {
  url: string;
  sha256?: string | undefined;
}

export class PypiUpstream implements UpstreamClient<UpstreamProject, PypiFileRef> {
  private readonly base: string;
  private readonly auth: string | undefined;

  constructor(
    readonly config: PypiUpstreamConfig,
    private readonly opts: UpstreamOptions,
  ) {
    this.base = config.url.endsWith('/') ? config.url : `${config.url}/`;
    this.auth =
      config.username !== undefined ? `Basic ${Buffer.from(`${config.username}:${config.password ?? ''}`).toString('base64')}` : undefined;
  }

  get name(): string {
    return this.config.name;
  }

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return { 'user-agent': 'safelist-sync', ...(this.auth ? { authorization: this.auth } : {}), ...extra };
  }

  /** The project's files, or undefined when the upstream does not have it (404). */
  index(name: string): Promise<UpstreamProject | undefined> {
    return withRetries(this.opts, () => this.readPage(name));
  }

  private async readPage(name: string): Promise<UpstreamProject | undefined> {
    const url = new URL(`${encodeURIComponent(name)}/`, this.base).toString();
    const timeoutMs = this.opts.timeoutMs;
    const res = await send(
      this.name,
      url,
      { headers: this.headers({ accept: ACCEPT }), signal: AbortSignal.timeout(timeoutMs), redirect: 'follow' },
      timeoutMs,
    );
    if (res.status === 404) return void (await drain(res));
    if (!res.ok)
      throw await statusError(this.name, res, `${this.name}: upstream error: ${url} answered HTTP ${res.status} ${res.statusText}`);
    const type = (res.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
    const text = await res.text().catch((err: unknown) => {
      throw unreachable(this.name, url, err, timeoutMs);
    });
    const pageUrl = res.url || url;
    const page =
      type === 'application/vnd.pypi.simple.v1+json'
        ? { ...parseJsonPage(this.name, text, pageUrl), format: 'json' as const }
        : type === 'text/html' || type === 'application/vnd.pypi.simple.v1+html' || type === ''
          ? { ...parseHtmlPage(text, pageUrl), format: 'html' as const }
          : undefined;
    if (page) return { name, files: page.files, format: page.format, ...(page.status ? { status: page.status } : {}) };
    throw new UpstreamError(this.name, UPSTREAM.BAD_RESPONSE, `${this.name}: ${url} answered with unsupported Content-Type ${type}`);
  }

  /**
   * A file's bytes as a stream. A transfer takes as long as it takes (a 2.5 GB CUDA wheel on a
   * slow link outlasts any fixed limit); one that brings no byte for the sync timeout is
   * aborted. Time spent waiting on our own storage (backpressure) is not the upstream's stall.
   */
  open(ref: PypiFileRef, opts: { signal?: AbortSignal | undefined } = {}): Promise<UpstreamBody> {
    const what = decodeURIComponent(new URL(ref.url).pathname.split('/').pop() ?? ref.url);
    return openStream(this.name, ref.url, {
      headers: this.headers({ 'accept-encoding': 'identity' }),
      timeoutMs: this.opts.timeoutMs,
      signal: opts.signal,
      what,
      sha256: ref.sha256,
    });
  }

  head(ref: PypiFileRef): Promise<{ size: number | undefined } | undefined> {
    const headers = this.headers({ 'accept-encoding': 'identity' });
    return withRetries(this.opts, () => headFile(this.name, ref.url, { headers, timeoutMs: this.opts.timeoutMs, what: ref.url }));
  }
}

function fileVersion(filename: string): string | undefined {
  return parseDistFilename(filename)?.version;
}

interface ParsedPage {
  files: UpstreamFile[];
  status: UpstreamStatus | undefined;
}

function parseJsonPage(upstream: string, text: string, pageUrl: string): ParsedPage {
  let doc: { files?: unknown; 'project-status'?: unknown };
  try {
    doc = JSON.parse(text) as typeof doc;
  } catch (err) {
    throw new UpstreamError(upstream, UPSTREAM.BAD_RESPONSE, `${upstream}: ${pageUrl}: the JSON page does not parse`, { cause: err });
  }
  if (!Array.isArray(doc.files))
    throw new UpstreamError(upstream, UPSTREAM.BAD_RESPONSE, `${upstream}: ${pageUrl}: the JSON page has no "files" list`);
  const out: UpstreamFile[] = [];
  for (const raw of doc.files as Array<Record<string, unknown>>) {
    if (typeof raw !== 'object' || raw === null || typeof raw.filename !== 'string' || typeof raw.url !== 'string') continue;
    const version = fileVersion(raw.filename);
    if (!version) continue;
    const hashes = (raw.hashes ?? {}) as Record<string, unknown>;
    const cm = raw['core-metadata'] ?? raw['dist-info-metadata'];
    const yanked = raw.yanked;
    out.push({
      filename: raw.filename,
      url: new URL(raw.url, pageUrl).toString(),
      version,
      sha256: typeof hashes.sha256 === 'string' ? hashes.sha256.toLowerCase() : undefined,
      size: typeof raw.size === 'number' ? raw.size : undefined,
      requiresPython: typeof raw['requires-python'] === 'string' && raw['requires-python'] ? raw['requires-python'] : null,
      uploadTime:
        typeof raw['upload-time'] === 'string' && !Number.isNaN(Date.parse(raw['upload-time'])) ? new Date(raw['upload-time']) : null,
      yanked: yanked === true ? '' : typeof yanked === 'string' && yanked ? yanked : null,
      coreMetadata:
        typeof cm === 'object' && cm !== null && typeof (cm as Record<string, unknown>).sha256 === 'string'
          ? (cm as Record<string, string>).sha256!.toLowerCase()
          : cm === true || (typeof cm === 'object' && cm !== null)
            ? true
            : undefined,
    });
  }
  const ps = doc['project-status'];
  const status =
    typeof ps === 'object' && ps !== null
      ? upstreamStatus((ps as Record<string, unknown>).status, (ps as Record<string, unknown>).reason)
      : undefined;
  return { files: out, status };
}

function parseHashAttr(v: string | undefined): string | true | undefined {
  if (v === undefined || v === 'false') return undefined;
  const m = /^sha256=([0-9a-fA-F]{64})$/.exec(v);
  return m ? m[1]!.toLowerCase() : true;
}

function parseHtmlPage(text: string, pageUrl: string): ParsedPage {
  const out: UpstreamFile[] = [];
  const meta: Record<string, string> = {};
  let current: { attrs: Record<string, string>; text: string } | undefined;
  const parser = new Parser(
    {
      onopentag(name, attrs) {
        if (name === 'meta' && attrs.name?.startsWith('pypi:project-status') && attrs.content !== undefined)
          meta[attrs.name] ??= attrs.content;
        if (name === 'a' && attrs.href) current = { attrs, text: '' };
      },
      ontext(t) {
        if (current) current.text += t;
      },
      onclosetag(name) {
        if (name !== 'a' || !current) return;
        const { attrs } = current;
        current = undefined;
        const url = new URL(attrs.href!, pageUrl);
        const frag = /^#sha256=([0-9a-fA-F]{64})$/.exec(url.hash);
        url.hash = '';
        const filename = decodeURIComponent(url.pathname.slice(url.pathname.lastIndexOf('/') + 1));
        const version = fileVersion(filename);
        if (!version) return;
        out.push({
          filename,
          url: url.toString(),
          version,
          sha256: frag ? frag[1]!.toLowerCase() : undefined,
          size: undefined,
          requiresPython: attrs['data-requires-python'] || null,
          uploadTime: null,
          yanked: attrs['data-yanked'] === undefined ? null : attrs['data-yanked'],
          coreMetadata: parseHashAttr(attrs['data-core-metadata'] ?? attrs['data-dist-info-metadata']),
        });
      },
    },
    { decodeEntities: true, lowerCaseAttributeNames: true },
  );
  parser.write(text);
  parser.end();
  return { files: out, status: upstreamStatus(meta['pypi:project-status'], meta['pypi:project-status-reason']) };
}
