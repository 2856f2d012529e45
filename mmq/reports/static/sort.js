(function () {
  "use strict";
  // Progressive enhancement: without JavaScript the table is complete and in date order.
  // Headers with data-sort become buttons; cells may carry data-value, the value to sort by.
  var tables = document.querySelectorAll("table[data-sortable]");
  Array.prototype.forEach.call(tables, function (table) {
    var headers = table.tHead.rows[0].cells;
    Array.prototype.forEach.call(headers, function (th, column) {
      var type = th.getAttribute("data-sort");
      if (!type) return;
      var button = document.createElement("button");
      button.type = "button";
      button.className = "sort";
      button.textContent = th.textContent.trim();
      th.textContent = "";
      th.appendChild(button);
      if (!th.hasAttribute("aria-sort")) th.setAttribute("aria-sort", "none");
      button.addEventListener("click", function () {
        var ascending = th.getAttribute("aria-sort") !== "ascending";
        sortRows(table, column, type, ascending);
        Array.prototype.forEach.call(headers, function (other) {
          if (other.hasAttribute("data-sort")) other.setAttribute("aria-sort", "none");
        });
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
      });
    });
  });

  function key(row, column, type) {
    var cell = row.cells[column];
    var raw = cell.hasAttribute("data-value") ? cell.getAttribute("data-value") : cell.textContent;
    if (type === "number") {
      var n = parseFloat(raw);
      return isNaN(n) ? null : n;
    }
    return raw.trim().toLowerCase() || null;
  }

  function sortRows(table, column, type, ascending) {
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = key(a, column, type), y = key(b, column, type);
      if (x === y) return 0;
      if (x === null) return 1; // empty values last in both directions
      if (y === null) return -1;
      var order = x < y ? -1 : 1;
      return ascending ? order : -order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
  }
})();
