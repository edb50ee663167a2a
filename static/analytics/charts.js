/* Analytics charts: read the page's json_script data and draw each <canvas data-chart>. */
(function () {
  "use strict";
  var COLORS = ["#3b5bdb", "#d9480f", "#2b8a3e", "#862e9c", "#e67700", "#0b7285", "#c2255c", "#5c940d", "#495057"];

  function pctTicks(percent) {
    return percent ? { callback: function (v) { return Math.round(v * 100) + "%"; } } : {};
  }

  function datasets(series, kind) {
    return Object.keys(series).map(function (name, i) {
      return {
        label: name, data: series[name], borderColor: COLORS[i % COLORS.length],
        backgroundColor: COLORS[i % COLORS.length] + (kind === "line" ? "33" : "cc"),
        spanGaps: true, tension: 0.2, pointRadius: 2,
      };
    });
  }

  function improvement(data) {
    var versions = (data.versions || []).map(function (v) { return { x: v.trained_at.slice(0, 10), y: v.holdout_accuracy }; });
    var weekly = (data.weekly_ai_resolution || []).map(function (w) { return { x: w.week, y: w.ai_resolution }; });
    return {
      type: "line",
      data: { datasets: [
        { label: "Weekly AI resolution", data: weekly, borderColor: COLORS[0], backgroundColor: COLORS[0] + "33", spanGaps: true, tension: 0.2 },
        { label: "Intent model holdout accuracy", data: versions, borderColor: COLORS[1], backgroundColor: COLORS[1],
          showLine: versions.length > 1, pointRadius: 5, stepped: true },
      ] },
      options: { parsing: { xAxisKey: "x", yAxisKey: "y" },
                 scales: { x: { type: "category", labels: Array.from(new Set(weekly.map(function (p) { return p.x; })
                   .concat(versions.map(function (p) { return p.x; })))).sort() },
                           y: { min: 0, max: 1, ticks: pctTicks(true) } } },
    };
  }

  function draw() {
    var holder = document.getElementById("analytics-charts");
    if (!holder || !window.Chart) { return; }
    var charts = JSON.parse(holder.textContent);
    document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      var data = charts[canvas.dataset.chart];
      if (!data) { return; }
      var kind = canvas.dataset.kind, percent = canvas.dataset.percent === "1", config;
      if (kind === "improvement") {
        config = improvement(data);
      } else {
        config = {
          type: kind === "line" ? "line" : "bar",
          data: { labels: data.labels, datasets: datasets(data.series, kind === "line" ? "line" : "bar") },
          options: { scales: { y: { beginAtZero: true, stacked: kind === "stacked", ticks: pctTicks(percent) },
                               x: { stacked: kind === "stacked" } } },
        };
      }
      config.options = Object.assign({ responsive: true, maintainAspectRatio: false, animation: false,
                                       plugins: { legend: { position: "bottom" } } }, config.options);
      new window.Chart(canvas, config);
    });
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", draw); } else { draw(); }
})();
