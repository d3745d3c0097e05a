// crisiswatch dashboard: times in the viewer's zone, copy buttons, live updates, filter.
// No dependencies; the pages work without it (times show in UTC, filters submit).
"use strict";
(function () {
  var zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "local time";
  function zoneName(d) {
    try {
      var p = new Intl.DateTimeFormat([], { timeZoneName: "short" }).formatToParts(d);
      for (var i = 0; i < p.length; i++) if (p[i].type === "timeZoneName") return p[i].value;
    } catch (e) {}
    return "";
  }
  function localise(root) {
    var times = root.querySelectorAll("time[datetime]");
    for (var i = 0; i < times.length; i++) {
      var d = new Date(times[i].getAttribute("datetime"));
      if (isNaN(d)) continue;
      times[i].textContent = d.toLocaleString([], { dateStyle: "medium", timeStyle: "short" }) + " " + zoneName(d);
      times[i].title = times[i].getAttribute("datetime");
    }
    var ticks = root.querySelectorAll("text[data-ts]");
    for (var j = 0; j < ticks.length; j++) {
      var t = new Date(ticks[j].getAttribute("data-ts"));
      if (!isNaN(t)) ticks[j].textContent = t.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    }
  }
  function copy(button) {
    var el = document.getElementById(button.getAttribute("data-copy"));
    if (!el) return;
    var text = el.textContent;
    var done = function () { button.textContent = "Copied"; setTimeout(function () { button.textContent = "Copy"; }, 2000); };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { fallback(el); done(); });
    } else { fallback(el); done(); }
  }
  function fallback(el) {
    var r = document.createRange(); r.selectNodeContents(el);
    var s = window.getSelection(); s.removeAllRanges(); s.addRange(r);
    try { document.execCommand("copy"); } catch (e) {}
  }
  function filter() {
    var box = document.getElementById("brand-filter");
    if (!box) return;
    box.addEventListener("input", function () {
      var q = box.value.trim().toLowerCase();
      var rows = document.querySelectorAll("tr.brand");
      for (var i = 0; i < rows.length; i++) rows[i].hidden = q !== "" && rows[i].textContent.toLowerCase().indexOf(q) < 0;
    });
  }
  // someone is typing (a note, the filter): an update would throw the field away
  function typing() {
    var a = document.activeElement;
    return a && (a.tagName === "TEXTAREA" || a.tagName === "INPUT") && (a.value || a.closest("#main"));
  }
  function refresh() {
    var main = document.getElementById("main");
    if (typing()) return;
    fetch(location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html) return;
        var doc = new DOMParser().parseFromString(html, "text/html");
        var next = doc.getElementById("main");
        if (!next || typing()) return; // checked again: the answer may come while typing
        main.innerHTML = next.innerHTML;
        localise(main); filter();
        document.body.setAttribute("data-updated", String(Date.now()));
      })
      .catch(function () {});
  }
  document.addEventListener("click", function (e) {
    var b = e.target.closest && e.target.closest("button[data-copy]");
    if (b) copy(b);
  });
  document.addEventListener("DOMContentLoaded", function () {
    var z = document.getElementById("zone");
    if (z) z.textContent = "Times in " + zone;
    localise(document); filter();
    if (document.body.getAttribute("data-live") && window.EventSource) {
      var es = new EventSource("/events");
      es.addEventListener("change", refresh);
      es.addEventListener("hello", function () { document.body.setAttribute("data-live-connected", "1"); });
      // volumes move without incidents: the brands page also refreshes every minute
      if (location.pathname === "/") setInterval(refresh, 60000);
    }
  });
})();
