/* "Print" buttons (data-print): a static script instead of an onclick attribute, which the CSP forbids. */
(function () {
  "use strict";
  document.querySelectorAll("[data-print]").forEach(function (button) {
    button.addEventListener("click", function () { window.print(); });
  });
})();
