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
  document.addEventListener("click", function (event) {
    var closer = event.target.closest("[data-close-dialog]");
    if (closer) { var d = closer.closest("dialog"); if (d) { d.close(); d.remove(); } }
  });
})();
