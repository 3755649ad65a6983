// Renders an exception's automatic triage (exceptions/triage.ts) for people: upstream versions,
// dependencies the view would still refuse (optionally each with a checkbox that adds it to the
// same request), names close to allowed ones, licence, advisories. Shown on the request form
// before submitting and to approvers in the queue. Markup only: it never re-triages or decides.
import type { TriageReport } from '../exceptions/triage.js';
import { html, type Html } from './html.js';

function upstream(t: TriageReport): Html {
  const u = t.upstream;
  if (!u.known) return html`<li>Upstream: <span class="warn">not seen by the sync</span>${u.note ? html` (${u.note})` : html``}</li>`;
  const shown = u.versions.slice(-15);
  return html`<li>
    Upstream versions:
    ${shown.join(', ')}${u.versions.length > shown.length ? html` (and ${u.versions.length - shown.length} older)` : html``}; the request
    matches ${u.matching.length ? u.matching.join(', ') : html`<span class="bad">none of them</span>`}
  </li>`;
}

/** The dependency list; with `pickForm`, a checkbox per dependency named "also" (value: the requirement) in that form. */
function dependencies(t: TriageReport, pickForm: string | undefined, idPrefix: string): Html {
  const d = t.dependencies;
  if (!d.checked) return html`<li>Dependencies: not checked${d.note ? html` (${d.note})` : html``}</li>`;
  if (!d.notAllowed.length) return html`<li>Dependencies: <span class="ok">all allowed in the view</span></li>`;
  const items = d.notAllowed.map((dep, i) =>
    pickForm
      ? html`<li>
          <input type="checkbox" name="also" form="${pickForm}" id="${idPrefix}-dep-${i}" value="${dep.requirement}" checked />
          <label class="inline" for="${idPrefix}-dep-${i}">Also request <strong>${dep.name}</strong> (${dep.requirement})</label>
        </li>`
      : html`<li><strong>${dep.name}</strong> (${dep.requirement})</li>`,
  );
  return html`<li>
    Dependencies the view would still refuse:
    <ul>
      ${items}
    </ul>
  </li>`;
}

function advisories(t: TriageReport): Html {
  const v = t.vulnerabilities;
  if (!v.checked) return html`<li>Advisories: not checked${v.note ? html` (${v.note})` : html``}</li>`;
  if (!v.advisories.length) return html`<li>Advisories: <span class="ok">none known for the matching versions</span></li>`;
  const items = v.advisories.map(
    (a) =>
      html`<li>
        <strong>${a.id}</strong>${a.severity ? html` (${a.severity})` : html``}: ${a.summary ?? 'no summary'}; affects
        ${a.affects.join(', ') || 'the requested versions'}${a.fixed.length ? html`; fixed in ${a.fixed.join(', ')}` : html``}
      </li>`,
  );
  return html`<li>
    <span class="bad">Known advisories</span>:
    <ul>
      ${items}
    </ul>
  </li>`;
}

export function renderTriage(report: TriageReport | Record<string, never>, opts: { pickForm?: string; idPrefix?: string } = {}): Html {
  if (!('checkedAt' in report)) return html`<p class="muted">No triage was recorded for this request.</p>`;
  const t = report as TriageReport;
  const similar = t.similarNames.length
    ? html`<li>
        <span class="warn">Names close to allowed ones</span> (a typosquat?):
        ${t.similarNames.map((s, i) => html`${i ? ', ' : ''}${s.name} (distance ${s.distance})`)}
      </li>`
    : html`<li>Names close to allowed ones: none</li>`;
  return html`<ul class="triage">
    ${upstream(t)} ${dependencies(t, opts.pickForm, opts.idPrefix ?? 'triage')} ${similar}
    <li>Licence: ${t.licence ?? html`<span class="muted">unknown</span>`}</li>
    ${advisories(t)}
  </ul>`;
}
