// Serves the console's stylesheet and script from memory with strong ETags (sha256 of the bytes)
// and 304 on If-None-Match. The text lives in assets/*.ts (see style.ts for why TS modules). It
// must never serve anything but these two files, and never a file from the disk.
import { createHash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { ENHANCE_JS } from './assets/enhance.js';
import { STYLE_CSS } from './assets/style.js';

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

function asset(text: string, type: string): Asset {
  const body = Buffer.from(text, 'utf8');
  return { body, type, etag: `"${createHash('sha256').update(body).digest('base64url')}"` };
}

const ASSETS: Record<string, Asset> = {
  'console.css': asset(STYLE_CSS, 'text/css; charset=utf-8'),
  'console.js': asset(ENHANCE_JS, 'text/javascript; charset=utf-8'),
};

/** The URLs pages link to; the version query changes with the bytes, so a cached copy is never stale for long. */
export const ASSET_URLS = {
  css: `/ui/assets/console.css?v=${ASSETS['console.css']!.etag.slice(1, 13)}`,
  js: `/ui/assets/console.js?v=${ASSETS['console.js']!.etag.slice(1, 13)}`,
};

export function registerAssets(app: FastifyInstance): void {
  app.get<{ Params: { file: string } }>('/assets/:file', async (req, reply) => {
    const a = Object.hasOwn(ASSETS, req.params.file) ? ASSETS[req.params.file] : undefined;
    if (!a) return reply.callNotFound();
    reply.header('etag', a.etag).header('cache-control', 'public, max-age=300, must-revalidate');
    const inm = req.headers['if-none-match'];
    if (inm && inm.split(',').some((t) => t.trim() === a.etag)) return reply.code(304).send();
    return reply.type(a.type).send(a.body);
  });
}
