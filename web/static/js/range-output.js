/* Sliders show their value in an <output>: <input type="range" data-output="ID"> writes into #ID
 * (a static script instead of an oninput attribute, which the CSP forbids). */
(function () {
  "use strict";
  document.querySelectorAll("input[data-output]").forEach(function (input) {
    var output = document.getElementById(input.getAttribute("data-output"));
    if (!output) { return; }
    input.addEventListener("input", function () { output.value = input.value; });
  });
})();
