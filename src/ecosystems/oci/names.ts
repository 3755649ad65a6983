// The OCI distribution spec's grammar for repository names, tags and digests, and the
// Safelist name of an image (`<registry>/<repository>`, where registry is a configured
// upstream's short name). Every request path is checked against these before anything else.

/** One path component of a repository name (distribution spec). */
const COMPONENT = '[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*';
const REPOSITORY = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);
const REGISTRY = /^[a-z0-9][a-z0-9-]{0,62}$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
const DIGEST = /^([a-z0-9]+(?:[.+_-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)$/;

export function isRegistryName(s: string): boolean {
  return REGISTRY.test(s);
}

export function isRepositoryName(s: string): boolean {
  return s.length <= 255 && REPOSITORY.test(s);
}

export function isTag(s: string): boolean {
  return TAG.test(s);
}

/** Why a digest is not acceptable (only sha256 with 64 lower-case hex digits is), or undefined. */
export function checkDigest(s: string): string | undefined {
  const m = DIGEST.exec(s);
  if (!m) return `"${s}" is not a digest; expected sha256:<64 hex digits>`;
  if (m[1] !== 'sha256') return `digest algorithm "${m[1]}" is not supported; Safelist stores sha256 digests only`;
  if (!/^[a-f0-9]{64}$/.test(m[2]!))
    return `"${s}" is not a sha256 digest: expected 64 lower-case hex digits, got ${m[2]!.length} characters`;
  return undefined;
}

export function isDigest(s: string): boolean {
  return checkDigest(s) === undefined;
}

/** The hex part of a valid sha256 digest. */
export function digestHex(d: string): string {
  return d.slice('sha256:'.length);
}

/** Splits `<registry>/<repository>` into its parts (undefined when malformed). */
export function splitImageName(name: string): { registry: string; repository: string } | undefined {
  const i = name.indexOf('/');
  if (i <= 0) return undefined;
  const registry = name.slice(0, i);
  const repository = name.slice(i + 1);
  return isRegistryName(registry) && isRepositoryName(repository) ? { registry, repository } : undefined;
}

export function checkImageName(name: string): string | undefined {
  if (splitImageName(name)) return undefined;
  return `"${name}" is not an image name: expected <registry>/<repository> (e.g. mcr/azureml/openmpi4.1.0-ubuntu22.04), where registry is a configured oci upstream and the repository is lower-case letters, digits and . _ - separated by /`;
}

/** `os/architecture[/variant]`, as written in an allowlist and in an index's platform field. */
export function platformString(p: { os?: string; architecture?: string; variant?: string } | undefined): string | undefined {
  if (!p?.os || !p.architecture) return undefined;
  return p.variant ? `${p.os}/${p.architecture}/${p.variant}` : `${p.os}/${p.architecture}`;
}

export function checkPlatform(s: string): string | undefined {
  return /^[a-z0-9]+\/[a-z0-9_]+(?:\/[a-z0-9]+)?$/.test(s)
    ? undefined
    : `"${s}" is not a platform; expected os/architecture[/variant], e.g. linux/amd64 or linux/arm64/v8`;
}
