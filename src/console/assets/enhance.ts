// The console's one script, as a TypeScript module exporting its text (see style.ts for why).
// Progressive enhancement only: every page works without it (forms post, links navigate). It
// must never be required for a decision, never fetch from another origin, and never build
// markup from text (it sets textContent and properties only), so the CSP needs no exception.
export const ENHANCE_JS = `'use strict';
(function () {
  // "Select all" boxes: <input type="checkbox" data-select-all="NAME"> toggles every box named NAME.
  document.querySelectorAll('input[data-select-all]').forEach(function (all) {
    all.addEventListener('change', function () {
      document.querySelectorAll('input[type="checkbox"][name="' + all.getAttribute('data-select-all') + '"]').forEach(function (box) {
        box.checked = all.checked;
      });
    });
  });
  // Copy buttons next to snippets: <button data-copy="ID"> copies the text of the element with that id.
  document.querySelectorAll('button[data-copy]').forEach(function (button) {
    button.hidden = false;
    button.addEventListener('click', function () {
      var source = document.getElementById(button.getAttribute('data-copy'));
      if (!source || !navigator.clipboard) return;
      navigator.clipboard.writeText(source.textContent || '').then(function () {
        button.textContent = 'Copied';
      }, function () {
        button.textContent = 'Copy failed: select the text';
      });
    });
  });
  // Forms marked data-confirm ask once before they post (a rejection, a withdrawal).
  document.querySelectorAll('form[data-confirm]').forEach(function (form) {
    form.addEventListener('submit', function (event) {
      if (!window.confirm(form.getAttribute('data-confirm'))) event.preventDefault();
    });
  });
})();
`;
