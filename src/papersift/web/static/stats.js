// Draw the stats page's charts with the vendored Chart.js from the JSON the page carries.
document.addEventListener("DOMContentLoaded", function () {
  "use strict";
  var source = document.getElementById("stats-data");
  if (!source || typeof Chart !== "function") return;
  var stats = JSON.parse(source.textContent);
  function bar(id, labels, values, horizontal) {
    var canvas = document.getElementById(id);
    if (!canvas || !labels.length) return;
    new Chart(canvas, {
      type: "bar",
      data: { labels: labels, datasets: [{ data: values, backgroundColor: "#0b63c5" }] },
      options: { indexAxis: horizontal ? "y" : "x", animation: false, plugins: { legend: { display: false } }, maintainAspectRatio: false }
    });
  }
  bar("chart-subarea", stats.by_subarea.map(function (c) { return c.label; }), stats.by_subarea.map(function (c) { return c.count; }), true);
  bar("chart-day", stats.by_day.map(function (c) { return c.key; }), stats.by_day.map(function (c) { return c.count; }), false);
  bar("chart-rising", stats.rising.map(function (k) { return k.keyword; }), stats.rising.map(function (k) { return k.ratio; }), true);
});
