// Warden console: the only script. Every action works without it (plain
// forms); this only keeps the approvals queue live, by re-reading its rows
// from the server every few seconds. No inline script anywhere (CSP).
(function () {
  "use strict";
  var table = document.querySelector("table[data-live]");
  if (!table) { return; }
  var body = document.getElementById("approval-rows");
  var total = document.getElementById("approvals-total");
  function refresh() {
    if (document.hidden) { return; }
    var q = new URLSearchParams(window.location.search);
    q.set("partial", "rows");
    fetch(table.getAttribute("data-live") + "?" + q.toString(), { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) {
        if (r.redirected || r.status === 401) { window.location.reload(); return; }
        if (!r.ok) { return; }
        var n = r.headers.get("X-Warden-Total");
        return r.text().then(function (html) {
          var tpl = document.createElement("template");
          tpl.innerHTML = html;
          body.replaceChildren(tpl.content);
          if (total && n !== null) { total.textContent = n; }
        });
      })
      .catch(function () { /* the next tick tries again */ });
  }
  window.setInterval(refresh, 2000);
})();
