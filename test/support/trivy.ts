// Trivy JSON reports (SchemaVersion 2, as `trivy image --format json` writes them) for the gate
// tests: what "the pipeline" posts to /api/v1/gate/reports/{digest}. Test data only: it must never
// decide anything itself (the gate's own parser and policy read it).
/** A Trivy JSON report (SchemaVersion 2) for one image digest. */
export function trivyReport(
  repoRef: string,
  digest: string,
  vulns: Array<{ id: string; severity: string; pkg: string; fixed?: string; published?: string }>,
) {
  return {
    SchemaVersion: 2,
    CreatedAt: '2026-11-25T10:00:00Z',
    ArtifactName: repoRef,
    ArtifactType: 'container_image',
    Metadata: { OS: { Family: 'debian', Name: '12.8' }, RepoDigests: [`${repoRef.split(':')[0]}@${digest}`] },
    Results: [
      {
        Target: `${repoRef} (debian 12.8)`,
        Class: 'os-pkgs',
        Type: 'debian',
        Vulnerabilities: vulns.map((v) => ({
          VulnerabilityID: v.id,
          PkgName: v.pkg,
          InstalledVersion: '1.0.0',
          ...(v.fixed ? { FixedVersion: v.fixed, Status: 'fixed' } : { Status: 'affected' }),
          Severity: v.severity,
          PublishedDate: v.published ?? '2024-01-01T00:00:00Z',
          Title: `${v.id} in ${v.pkg}`,
        })),
      },
    ],
  };
}
