// Portcullis console: keeps the live sessions table current without a reload.
"use strict";
(function () {
  var table = document.getElementById("sessions");
  if (!table) { return; }
  var url = table.getAttribute("data-rows");
  function ids(tbody) {
    return Array.prototype.map.call(tbody.querySelectorAll("tr[data-session]"), function (tr) {
      return tr.getAttribute("data-session");
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
      if (fresh && old && ids(fresh) !== ids(old) && !busy()) {
        old.replaceWith(document.importNode(fresh, true));
      }
    }).catch(function () {}).finally(function () { setTimeout(refresh, 2000); });
  }
  setTimeout(refresh, 2000);
})();
