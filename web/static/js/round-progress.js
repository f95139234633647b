// While a round is queued or solving, ask for its status and load the page again once it is done (solved or
// failed). When a worker takes the round (queued → solving) the card and the badge change in place: loading the
// whole page again then would only take time from the solve. Without JavaScript, a <noscript> refresh does it all.
// A province round solves in a few seconds: the first looks come every 300 ms, so that the proposals show as soon
// as they are stored; a long round is asked less and less often, down to every two seconds.
(function () {
  "use strict";
  var box = document.getElementById("progress");
  if (!box || !window.fetch) { return; }
  var url = box.getAttribute("data-status-url");
  var seen = box.getAttribute("data-status");
  var delay = 300;

  function later() {
    window.setTimeout(poll, delay);
    delay = Math.min(2000, Math.round(delay * 1.25));
  }

  function showSolving(status) {
    var state = document.getElementById("progress-state");
    var badge = document.getElementById("round-status");
    var bar = box.querySelector(".progress span");
    box.setAttribute("data-status", status.status);
    if (state) { state.textContent = status.progress; state.setAttribute("data-state", status.status); }
    if (badge) {
      badge.textContent = status.label;
      badge.setAttribute("data-status", status.status);
      badge.className = "badge status-" + status.status;
    }
    if (bar) { bar.className = "progress-solving"; }
  }

  function poll() {
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (status) {
        if (!status || status.status === seen) { later(); return; }
        if (seen === "queued" && status.status === "solving") {
          showSolving(status);
          seen = status.status;
          later();
          return;
        }
        window.location.reload();
      })
      .catch(function () { window.setTimeout(poll, 5000); });
  }
  later();
}());
