// Sort and filter the worklist tables in place (reports/templates/_worklist.html.j2). No network,
// no libraries: about 60 lines, inlined into the page. Sorting reads each cell's exact data-value.
(function () {
  "use strict";
  function num(kind) { return kind === "int" || kind === "money" || kind === "pct" || kind === "days"; }
  function key(cell, kind) {
    var v = cell.getAttribute("data-value");
    if (v === "") return null;
    return num(kind) ? parseFloat(v) : v.toLowerCase();
  }
  function fmt(x, kind) {
    return kind === "money"
      ? x.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 })
      : x.toLocaleString("en-US");
  }
  function shown(section) {
    var rows = section.querySelectorAll("tbody tr"), heads = section.querySelectorAll("thead th");
    var visible = 0, sums = {};
    rows.forEach(function (tr) {
      if (tr.hidden) return;
      visible += 1;
      tr.querySelectorAll("td").forEach(function (td, i) {
        var kind = heads[i].getAttribute("data-kind");
        if ((kind === "money" || kind === "int") && td.getAttribute("data-value") !== "") {
          // cents as integers: no float drift in the subtotal
          var cents = Math.round(parseFloat(td.getAttribute("data-value")) * 100);
          sums[i] = (sums[i] || 0) + cents;
        }
      });
    });
    var line = section.querySelector(".wl-shown");
    if (!line) return;
    // a long worklist is cut in the page (the workbook holds every row): say so, or a filter that
    // finds nothing here would read as "nothing to work on"
    var all = parseInt(section.getAttribute("data-rows"), 10) || rows.length;
    var parts = ["Shown: " + visible + " of " + rows.length + " rows" +
                 (all > rows.length ? " in this page, " + all + " in the workbook" : "")];
    section.querySelectorAll("tfoot td[data-metric]").forEach(function (td) {
      var i = Array.prototype.indexOf.call(td.parentNode.children, td);
      var kind = heads[i].getAttribute("data-kind");
      parts.push(heads[i].textContent.trim() + " " + fmt((sums[i] || 0) / 100, kind));
    });
    line.textContent = parts.join(" · ");
    line.hidden = visible === rows.length && all === rows.length;
  }
  document.querySelectorAll("section.worklist").forEach(function (section) {
    var body = section.querySelector("tbody");
    if (!body) return;
    var input = section.querySelector(".wl-filter");
    input.hidden = false;
    input.addEventListener("input", function () {
      var q = input.value.trim().toLowerCase();
      body.querySelectorAll("tr").forEach(function (tr) {
        tr.hidden = q !== "" && tr.textContent.toLowerCase().indexOf(q) < 0;
      });
      shown(section);
    });
    section.querySelectorAll("thead th").forEach(function (th, i) {
      th.tabIndex = 0;
      th.classList.add("sortable");
      var sort = function () {
        var kind = th.getAttribute("data-kind");
        var dir = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
        section.querySelectorAll("thead th").forEach(function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
        var rows = Array.prototype.slice.call(body.querySelectorAll("tr"));
        rows.sort(function (a, b) {
          var x = key(a.children[i], kind), y = key(b.children[i], kind);
          if (x === y) return 0;
          if (x === null) return 1;
          if (y === null) return -1;
          return (x < y ? -1 : 1) * dir;
        });
        rows.forEach(function (tr) { body.appendChild(tr); });
      };
      th.addEventListener("click", sort);
      th.addEventListener("keydown", function (e) { if (e.key === "Enter") sort(); });
    });
  });
})();
