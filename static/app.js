// Facturier's only script: open a <dialog> swapped into #modal, close it on the
// "close-dialog" event a server response triggers (HX-Trigger); keep aria-invalid in step with
// autosave errors. No inline JS (CSP).
(function () {
  document.addEventListener("htmx:afterSwap", function (event) {
    var dialog = event.detail.target.querySelector && event.detail.target.querySelector("dialog");
    if (event.detail.target.id === "modal" && dialog && !dialog.open) dialog.showModal();
  });
  document.body.addEventListener("close-dialog", function () {
    var dialog = document.querySelector("#modal dialog");
    if (dialog) { dialog.close(); dialog.remove(); }
  });
  // An autosave answer fills or empties a field's error slot (#<id>-errors) out of band, never
  // the input being typed in: mark the input invalid, or valid again, to match its slot.
  document.addEventListener("htmx:afterSettle", function () {
    document.querySelectorAll(".field-errors[id$='-errors']").forEach(function (slot) {
      var input = document.getElementById(slot.id.slice(0, -"-errors".length));
      if (!input) return;
      var invalid = slot.querySelector(".error") !== null;
      if (invalid) input.setAttribute("aria-invalid", "true"); else input.removeAttribute("aria-invalid");
      var field = input.closest(".field");
      if (field) field.classList.toggle("has-error", invalid);
    });
  });
  // Autosaved forms (data-autosave): nothing typed is lost. A form typed in since its last
  // successful save is "dirty"; it is saved when the page is hidden (a phone going to sleep,
  // another app) with a beacon, and again when the network comes back after a failed save.
  function dirtyForms() { return document.querySelectorAll("form[data-autosave][data-dirty]"); }
  document.addEventListener("input", function (event) {
    var form = event.target.closest && event.target.closest("form[data-autosave]");
    if (form) form.dataset.dirty = "1";
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    var form = event.detail.elt;
    if (form.matches && form.matches("form[data-autosave]") && event.detail.successful) delete form.dataset.dirty;
  });
  document.addEventListener("htmx:sendError", function (event) {
    var form = event.detail.elt, state = document.getElementById("save-state");
    if (!form.matches || !form.matches("form[data-autosave]")) return;
    form.dataset.dirty = "1";
    if (state && state.dataset.offline) { state.textContent = state.dataset.offline; state.classList.add("unsaved"); }
  });
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState !== "hidden" || !navigator.sendBeacon) return;
    dirtyForms().forEach(function (form) { navigator.sendBeacon(form.action, new FormData(form)); });
  });
  window.addEventListener("online", function () {
    dirtyForms().forEach(function (form) { htmx.trigger(form, "submit"); });
  });
  document.addEventListener("click", function (event) {
    if (event.target.closest("[data-print]")) { event.preventDefault(); window.print(); return; }
    var closer = event.target.closest("[data-close-dialog]");
    if (closer) { var d = closer.closest("dialog"); if (d) { d.close(); d.remove(); } }
  });
})();
