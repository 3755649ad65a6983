// Content addressing in the blob store: every artifact (file, metadata, layer) lives under
// its own sha256, so identical bytes are stored once across projects and ecosystems.
const SHA256 = /^[0-9a-f]{64}$/;

export function isSha256(hex: string): boolean {
  return SHA256.test(hex);
}

export function blobKeyForSha256(hex: string): string {
  if (!SHA256.test(hex)) throw new Error(`not a sha256: ${hex}`);
  return `sha256/${hex.slice(0, 2)}/${hex}`;
}
