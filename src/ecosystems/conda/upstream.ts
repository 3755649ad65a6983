// Reads an upstream conda channel over HTTP: {channel}/{subdir}/repodata.json as a byte
// stream (never buffered whole: conda-forge's runs to hundreds of MB) and package files. Only
// the sync job calls this; the read path never contacts an upstream. A stalled transfer is
// aborted after the sync timeout without data, however long the whole transfer takes.
import type { CondaChannelConfig } from './config.js';
import { headFile, openStream, withRetries } from '../../upstream/http.js';
import { isUpstreamError, UPSTREAM, type UpstreamBody, type UpstreamClient, type UpstreamOptions } from '../../upstream/types.js';

/** A package file to open: its URL, and the sha256 the repodata announced (checked as the bytes stream). */
export interface CondaFileRef {
  url: string;
  /** For messages; the URL's last segment when absent. */
  filename?: string;
  sha256?: string | undefined;
}

// gzip is accepted (fetch decodes it); the filter sees plain JSON bytes.
const HEADERS = { 'user-agent': 'safelist-sync', 'accept-encoding': 'gzip' };

/** The index of a name is one subdir's repodata.json, as a stream (never parsed here). */
export class CondaUpstream implements UpstreamClient<UpstreamBody, CondaFileRef> {
  private readonly base: string;

  constructor(
    readonly config: CondaChannelConfig,
    private readonly opts: UpstreamOptions,
  ) {
    this.base = config.url.endsWith('/') ? config.url : `${config.url}/`;
  }

  get name(): string {
    return this.config.name;
  }

  urlOf(subdir: string, filename: string): string {
    return new URL(`${subdir}/${encodeURIComponent(filename)}`, this.base).toString();
  }

  /** Where a package file lives: beside the repodata, or under info.base_url when the channel sets one (CEP 15). */
  fileUrl(subdir: string, filename: string, baseUrl?: unknown): string {
    if (typeof baseUrl !== 'string' || baseUrl === '') return this.urlOf(subdir, filename);
    const b = new URL(baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`, new URL(`${subdir}/`, this.base));
    return new URL(encodeURIComponent(filename), b).toString();
  }

  /**
   * A subdir's repodata.json as a stream; undefined when the channel has no such subdir (404).
   * A stream is never retried once bytes have flowed; the request for it is, as config says.
   */
  async index(subdir: string): Promise<UpstreamBody | undefined> {
    const url = this.urlOf(subdir, 'repodata.json');
    const what = `repodata of ${subdir}`;
    try {
      return await withRetries(this.opts, () => openStream(this.name, url, { headers: HEADERS, timeoutMs: this.opts.timeoutMs, what }));
    } catch (err) {
      if (isUpstreamError(err, UPSTREAM.NOT_FOUND)) return undefined;
      throw err;
    }
  }

  open(ref: CondaFileRef, opts: { signal?: AbortSignal | undefined } = {}): Promise<UpstreamBody> {
    const what = ref.filename ?? decodeURIComponent(new URL(ref.url).pathname.split('/').pop() ?? ref.url);
    const init = { headers: HEADERS, timeoutMs: this.opts.timeoutMs, what, sha256: ref.sha256, signal: opts.signal };
    return openStream(this.name, ref.url, init);
  }

  head(ref: CondaFileRef): Promise<{ size: number | undefined } | undefined> {
    const what = ref.filename ?? ref.url;
    return withRetries(this.opts, () => headFile(this.name, ref.url, { headers: HEADERS, timeoutMs: this.opts.timeoutMs, what }));
  }
}
