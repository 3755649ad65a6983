// Reads what an image manifest or index references, for the OCI and Docker schema 2 media
// types. Only the fields Safelist needs are read; the bytes themselves are served unchanged,
// so digests stay upstream's. Anything else (schema 1, unknown types) is refused by name.
import { checkDigest, platformString } from './names.js';

export const MANIFEST_TYPES = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
} as const;

/** Sent as Accept on every manifest request upstream. */
export const MANIFEST_ACCEPT = Object.values(MANIFEST_TYPES).join(', ');

const INDEX_TYPES = new Set<string>([MANIFEST_TYPES.ociIndex, MANIFEST_TYPES.dockerList]);
const IMAGE_TYPES = new Set<string>([MANIFEST_TYPES.ociManifest, MANIFEST_TYPES.dockerManifest]);

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: string;
}

export type ParsedManifest =
  | { kind: 'index'; mediaType: string; manifests: Descriptor[] }
  | { kind: 'image'; mediaType: string; config: Descriptor; layers: Descriptor[] };

function descriptor(v: unknown, where: string): Descriptor {
  const d = v as {
    mediaType?: unknown;
    digest?: unknown;
    size?: unknown;
    platform?: { os?: string; architecture?: string; variant?: string };
  };
  if (typeof d?.digest !== 'string' || typeof d.size !== 'number' || !Number.isSafeInteger(d.size) || d.size < 0) {
    throw new Error(`${where}: a descriptor without a valid digest and size`);
  }
  const problem = checkDigest(d.digest);
  if (problem) throw new Error(`${where}: ${problem}`);
  const platform = platformString(d.platform);
  return {
    mediaType: typeof d.mediaType === 'string' ? d.mediaType : 'application/octet-stream',
    digest: d.digest,
    size: d.size,
    ...(platform ? { platform } : {}),
  };
}

/** Parses manifest bytes; contentType is what the registry announced (used when mediaType is absent). */
export function parseManifest(bytes: Buffer, contentType: string | undefined, where: string): ParsedManifest {
  let doc: { mediaType?: unknown; schemaVersion?: unknown; manifests?: unknown; config?: unknown; layers?: unknown };
  try {
    doc = JSON.parse(bytes.toString('utf8')) as typeof doc;
  } catch {
    throw new Error(`${where}: the manifest is not JSON`);
  }
  const mediaType = typeof doc.mediaType === 'string' ? doc.mediaType : (contentType ?? '').split(';')[0]!.trim();
  if (doc.schemaVersion !== 2)
    throw new Error(`${where}: schemaVersion ${String(doc.schemaVersion)} is not supported (only schema 2 / OCI manifests are mirrored)`);
  if (INDEX_TYPES.has(mediaType) || (mediaType === '' && Array.isArray(doc.manifests))) {
    if (!Array.isArray(doc.manifests)) throw new Error(`${where}: an index without "manifests"`);
    return {
      kind: 'index',
      mediaType: mediaType || MANIFEST_TYPES.ociIndex,
      manifests: doc.manifests.map((m, i) => descriptor(m, `${where} manifests[${i}]`)),
    };
  }
  if (IMAGE_TYPES.has(mediaType) || (mediaType === '' && doc.config !== undefined)) {
    if (!Array.isArray(doc.layers)) throw new Error(`${where}: an image manifest without "layers"`);
    return {
      kind: 'image',
      mediaType: mediaType || MANIFEST_TYPES.ociManifest,
      config: descriptor(doc.config, `${where} config`),
      layers: doc.layers.map((l, i) => descriptor(l, `${where} layers[${i}]`)),
    };
  }
  throw new Error(
    `${where}: media type "${mediaType}" is not a manifest type Safelist mirrors (${Object.values(MANIFEST_TYPES).join(', ')})`,
  );
}
