// While a round is queued or solving, ask for its status and reload the page once it moves on
// (queued → solving → solved or failed). Without JavaScript, a <noscript> refresh does the same.
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

  function poll() {
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (status) {
        if (status && status.status !== seen) { window.location.reload(); } else { later(); }
      })
      .catch(function () { window.setTimeout(poll, 5000); });
  }
  later();
}());
