// Facturier's only script: open a <dialog> swapped into #modal, close it on the
// "close-dialog" event a server response triggers (HX-Trigger). No inline JS (CSP).
(function () {
  document.addEventListener("htmx:afterSwap", function (event) {
    var dialog = event.detail.target.querySelector && event.detail.target.querySelector("dialog");
    if (event.detail.target.id === "modal" && dialog && !dialog.open) dialog.showModal();
  });
  document.body.addEventListener("close-dialog", function () {
    var dialog = document.querySelector("#modal dialog");
    if (dialog) { dialog.close(); dialog.remove(); }
  });
  document.addEventListener("click", function (event) {
    var closer = event.target.closest("[data-close-dialog]");
    if (closer) { var d = closer.closest("dialog"); if (d) { d.close(); d.remove(); } }
  });
})();
