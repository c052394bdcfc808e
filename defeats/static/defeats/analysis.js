/* The defeat analysis charts (Apache ECharts, vendored): a reasons Pareto and the defeat rate by month, this year
   against last. The page carries the figures and translated labels in <script type="application/json"
   id="dft-chart-data"> (json_script); this file only draws them, so the strict CSP (no inline script or style)
   holds. Tooltips render in the canvas (renderMode "richText"). */
(function () {
  "use strict";
  var TEXT = "#475467", GRID = "#eaecf0", RED = "#c92a2a", BLUE = "#145a96", GREY = "#98a2b3";
  var charts = [];

  function pct(v) { return v === null || v === undefined ? "—" : (v * 100).toFixed(1) + "%"; }
  function tooltip(extra) {
    return Object.assign({ renderMode: "richText", confine: true, backgroundColor: "#101828", borderWidth: 0,
                           textStyle: { color: "#fff", fontSize: 12 } }, extra || {});
  }
  function chart(id) {
    var el = document.getElementById(id);
    if (!el || !window.echarts) { return null; }
    var c = window.echarts.init(el, null, { renderer: "canvas" });
    charts.push(c);
    return c;
  }

  function drawPareto(data) {
    var c = chart("dft-chart-pareto");
    if (!c) { return; }
    var rows = data.pareto, total = 0, run = 0;
    rows.forEach(function (r) { total += r.value; });
    var cumulative = rows.map(function (r) { run += r.value; return total ? run / total : null; });
    var narrow = c.getWidth() < 560;
    c.setOption({
      animationDuration: 400,
      legend: { top: 0, left: 0, itemWidth: 12, itemHeight: 8, textStyle: { color: TEXT, fontSize: 11 } },
      grid: { left: 4, right: 4, top: 30, bottom: 4, containLabel: true },
      tooltip: tooltip({ trigger: "axis" }),
      xAxis: { type: "category", data: rows.map(function (r) { return r.label; }), axisTick: { show: false },
               axisLine: { lineStyle: { color: GRID } },
               axisLabel: { color: TEXT, fontSize: 10, interval: 0, rotate: narrow ? 50 : 30,
                            formatter: function (v) { return v.length > 10 ? v.slice(0, 10) + "…" : v; } } },
      yAxis: [
        { type: "value", minInterval: 1, axisLabel: { color: TEXT, fontSize: 11 }, splitLine: { lineStyle: { color: GRID } } },
        { type: "value", min: 0, max: 1, splitLine: { show: false },
          axisLabel: { color: TEXT, fontSize: 11, formatter: function (v) { return Math.round(v * 100) + "%"; } } }
      ],
      series: [
        { name: data.labels.defeats, type: "bar", data: rows.map(function (r) { return r.value; }), barMaxWidth: 28,
          itemStyle: { color: RED, borderRadius: [3, 3, 0, 0] } },
        { name: data.labels.cumulative, type: "line", yAxisIndex: 1, data: cumulative, symbolSize: 5,
          lineStyle: { color: BLUE, width: 2 }, itemStyle: { color: BLUE },
          tooltip: { valueFormatter: pct } }
      ]
    });
  }

  function drawTrend(data) {
    var c = chart("dft-chart-trend");
    if (!c) { return; }
    var months = ["01", "02", "03", "04", "05", "06", "07", "08", "09", "10", "11", "12"];
    var narrow = c.getWidth() < 560;  // the legend wraps onto two lines: leave it room
    function values(map) { return months.map(function (m) { return map[m] === undefined ? null : map[m]; }); }
    c.setOption({
      animationDuration: 400,
      legend: { top: 0, left: 0, itemWidth: 12, itemHeight: 8, textStyle: { color: TEXT, fontSize: 11 } },
      grid: { left: 4, right: 8, top: narrow ? 56 : 30, bottom: 4, containLabel: true },
      tooltip: tooltip({ trigger: "axis", valueFormatter: pct }),
      xAxis: { type: "category", data: months, axisTick: { show: false }, axisLine: { lineStyle: { color: GRID } },
               axisLabel: { color: TEXT, fontSize: 11 } },
      yAxis: { type: "value", min: 0, max: 1, splitLine: { lineStyle: { color: GRID } },
               axisLabel: { color: TEXT, fontSize: 11, formatter: function (v) { return Math.round(v * 100) + "%"; } } },
      series: [
        { name: data.labels.defeat_rate + " " + data.labels.this_year, type: "line", data: values(data.trend.this),
          symbolSize: 6, lineStyle: { color: RED, width: 2 }, itemStyle: { color: RED } },
        { name: data.labels.defeat_rate + " " + data.labels.last_year, type: "line", data: values(data.trend.last),
          symbolSize: 4, lineStyle: { color: GREY, width: 2, type: "dashed" }, itemStyle: { color: GREY } },
        { name: data.labels.false_rate + " " + data.labels.this_year, type: "line",
          data: values(data.trend.false_this), symbolSize: 4, lineStyle: { color: BLUE, width: 1.5 },
          itemStyle: { color: BLUE } }
      ]
    });
  }

  function draw() {
    var el = document.getElementById("dft-chart-data");
    if (!el) { return; }
    var data = JSON.parse(el.textContent);
    drawPareto(data);
    drawTrend(data);
  }

  var resizeTimer = null;
  window.addEventListener("resize", function () {
    window.clearTimeout(resizeTimer);
    resizeTimer = window.setTimeout(function () { charts.forEach(function (c) { c.resize(); }); }, 150);
  });
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", draw); } else { draw(); }
}());
