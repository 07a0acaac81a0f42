// Portcullis console: keeps the live sessions table current without a reload, and counts
// down each session's time left (from the server's clock, data-now).
"use strict";
(function () {
  var table = document.getElementById("sessions");
  if (!table) { return; }
  var url = table.getAttribute("data-rows");
  var skew = (Date.parse(table.getAttribute("data-now")) || Date.now()) - Date.now();
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function left(ms) {
    if (ms <= 0) { return "ending"; }
    var s = Math.floor(ms / 1000), h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60;
    return (h > 0 ? h + "h" + pad(m) : m) + "m" + pad(s % 60) + "s";
  }
  function tick() {
    var now = Date.now() + skew;
    Array.prototype.forEach.call(table.querySelectorAll("td[data-ends]"), function (td) {
      td.textContent = left(Date.parse(td.getAttribute("data-ends")) - now);
    });
  }
  setInterval(tick, 1000);
  // sig names the rows and their ends: the table is replaced when a session comes or goes, or
  // when a session's time left became known.
  function sig(tbody) {
    return Array.prototype.map.call(tbody.querySelectorAll("tr[data-session]"), function (tr) {
      var left = tr.querySelector("td.left");
      return tr.getAttribute("data-session") + "|" + (left ? left.getAttribute("data-ends") || left.textContent : "");
    }).join(",");
  }
  function busy() {
    var a = document.activeElement;
    return a && table.contains(a) && a.tagName === "INPUT" && a.value !== "";
  }
  function refresh() {
    fetch(url, { credentials: "same-origin", cache: "no-store" }).then(function (res) {
      if (!res.ok) { throw new Error(res.status); }
      return res.text();
    }).then(function (html) {
      var doc = new DOMParser().parseFromString("<table>" + html + "</table>", "text/html");
      var fresh = doc.getElementById("session-rows");
      var old = document.getElementById("session-rows");
      if (fresh && old && sig(fresh) !== sig(old) && !busy()) {
        old.replaceWith(document.importNode(fresh, true));
        tick();
      }
    }).catch(function () {}).finally(function () { setTimeout(refresh, 2000); });
  }
  setTimeout(refresh, 2000);
})();
