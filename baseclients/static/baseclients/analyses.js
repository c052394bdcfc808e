/* The base-client analyses' charts (Apache ECharts, vendored). The page carries its figures and translated labels in
   <script type="application/json" id="bc-chart-data"> (json_script); this file only draws them, so the strict CSP
   (no inline script or style) holds. Tooltips render in the canvas (renderMode "richText"). */
(function () {
  "use strict";
  var TIER_COLORS = { premium: "#e8590c", potential: "#1c7ed6", general: "#adb5bd" };
  var TIERS = ["premium", "potential", "general"];

  function tooltip() {
    return { trigger: "axis", renderMode: "richText", confine: true, backgroundColor: "#101828", borderWidth: 0,
             textStyle: { color: "#fff", fontSize: 12 } };
  }

  function concentration(id, rows, L) {
    var el = document.getElementById(id);
    if (!el || !window.echarts || !rows.length) { return; }
    var c = window.echarts.init(el, null, { renderer: "canvas" });
    var keys = rows.map(function (r) { return r.key; });
    var series = [];
    TIERS.forEach(function (t) {
      series.push({ name: L[t] + " " + L["this"], type: "bar", stack: "this", data: rows.map(function (r) { return r["this"][t]; }),
                    itemStyle: { color: TIER_COLORS[t] } });
    });
    series.push({ name: L.last, type: "bar", data: rows.map(function (r) { return r.last.total; }),
                  itemStyle: { color: "#d0d5dd" }, barGap: "10%" });
    c.setOption({
      tooltip: tooltip(), legend: { type: "scroll", bottom: 0 },
      grid: { left: 8, right: 8, top: 10, bottom: 40, containLabel: true },
      xAxis: { type: "category", data: keys, axisLabel: { interval: 0, rotate: keys.length > 5 ? 30 : 0 } },
      yAxis: { type: "value", minInterval: 1 },
      series: series
    });
    window.addEventListener("resize", function () { c.resize(); });
  }

  function monthly(id, rows, L) {
    var el = document.getElementById(id);
    if (!el || !window.echarts) { return; }
    var c = window.echarts.init(el, null, { renderer: "canvas" });
    c.setOption({
      tooltip: tooltip(), legend: { bottom: 0 },
      grid: { left: 8, right: 8, top: 10, bottom: 36, containLabel: true },
      xAxis: { type: "category", data: rows.map(function (r) { return r.month; }) },
      yAxis: { type: "value", minInterval: 1 },
      series: [
        { name: L.referrals, type: "bar", data: rows.map(function (r) { return r.referrals; }), itemStyle: { color: "#12b76a" } },
        { name: L.repeats, type: "bar", data: rows.map(function (r) { return r.repeats; }), itemStyle: { color: "#145a96" } }
      ]
    });
    window.addEventListener("resize", function () { c.resize(); });
  }

  function draw() {
    var node = document.getElementById("bc-chart-data");
    if (!node) { return; }
    var data = JSON.parse(node.textContent);
    concentration("bc-chart-region", data.region, data.labels);
    concentration("bc-chart-industry", data.industry, data.labels);
    monthly("bc-chart-monthly", data.monthly, data.labels);
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", draw); } else { draw(); }
})();
