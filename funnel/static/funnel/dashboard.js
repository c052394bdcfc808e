/* The funnel dashboard's charts (Apache ECharts, vendored). The page carries its figures and translated labels in
   <script type="application/json" id="fnl-chart-data"> (Django's json_script); this file only draws them, so the
   strict CSP (no inline script, no inline style) holds. Tooltips render in the canvas (renderMode "richText"):
   ECharts' HTML tooltips would need inline style attributes. htmx swaps the whole dashboard when a selector
   changes; the charts are drawn again from the new data. */
(function () {
  "use strict";

  var BRAND = "#145a96";
  var COLORS = { N: "#0f3d66", valid: "#3b82c4", followed: "#7a5af8", deals: "#12b76a",
                 K: "#3b82c4", F: "#7a5af8", C: "#e8590c" };
  var GRADE_COLORS = { A: "#c92a2a", B: "#e8590c", C: "#e09200", D: "#1c7ed6", E: "#868e96" };
  var SOURCE_COLORS = { walk_in: "#145a96", referral: "#12b76a", outbound: "#e09200" };
  var TEXT = "#475467";
  var GRID = "#eaecf0";

  var charts = [];
  var drawnFrom = null;

  document.documentElement.classList.add("fnl-js");

  function pct(value) {
    return value === null || value === undefined ? "—" : (value * 100).toFixed(1) + "%";
  }

  function chart(id) {
    var el = document.getElementById(id);
    if (!el || !window.echarts) { return null; }
    var instance = window.echarts.init(el, null, { renderer: "canvas" });
    charts.push(instance);
    return instance;
  }

  function tooltip(extra) {
    var base = { renderMode: "richText", confine: true, backgroundColor: "#101828", borderWidth: 0,
                 textStyle: { color: "#fff", fontSize: 12 } };
    return Object.assign(base, extra || {});
  }

  function drawFunnel(data) {
    var c = chart("fnl-chart-funnel");
    if (!c) { return; }
    var L = data.labels;
    var top = data.funnel[0].value || 1;
    c.setOption({
      animationDuration: 500,
      tooltip: tooltip({ trigger: "item", formatter: function (p) {
        return p.name + ": " + p.value + (p.data.rateLabel ? "  (" + p.data.rateLabel + ")" : "");
      } }),
      series: [{
        // The narrowest step still holds its label ("成交（本期新客） 0") on a 390 px phone.
        type: "funnel", sort: "none", min: 0, max: top, minSize: "50%", maxSize: "100%", gap: 3,
        left: "6%", right: "6%", top: 6, bottom: 6,
        itemStyle: { borderColor: "#fff", borderWidth: 1 },
        label: {
          show: true, position: "inside", color: "#fff", lineHeight: 17,
          formatter: function (p) {
            return "{name|" + p.name + "}  {value|" + p.value + "}" + (p.data.rateLabel ? "\n{rate|" + p.data.rateLabel + "}" : "");
          },
          rich: {
            name: { fontSize: 12, color: "rgba(255,255,255,.9)" },
            value: { fontSize: 15, fontWeight: 700, color: "#fff" },
            rate: { fontSize: 11, color: "rgba(255,255,255,.85)" }
          }
        },
        emphasis: { label: { fontSize: 14 } },
        data: data.funnel.map(function (step) {
          return { name: L[step.key], value: step.value, rateLabel: step.rate_label,
                   itemStyle: { color: COLORS[step.key] } };
        })
      }]
    });
  }

  function gradeRich() {
    var rich = {};
    Object.keys(GRADE_COLORS).forEach(function (g) {
      rich[g] = { color: "#fff", backgroundColor: GRADE_COLORS[g], borderRadius: 4, padding: [3, 6], fontWeight: 700,
                  fontSize: 11 };
    });
    return rich;
  }

  function drawMix(data) {
    var c = chart("fnl-chart-mix");
    if (!c) { return; }
    c.setOption({
      animationDuration: 500,
      grid: { left: 8, right: 8, top: 22, bottom: 4, containLabel: true },
      tooltip: tooltip({ trigger: "item", formatter: function (p) { return p.name + ": " + pct(p.value); } }),
      xAxis: { type: "category", data: data.mix.map(function (m) { return m.grade; }),
               axisTick: { show: false }, axisLine: { lineStyle: { color: GRID } },
               axisLabel: { formatter: function (g) { return "{" + g + "|" + g + "}"; }, rich: gradeRich() } },
      // Scaled to the largest share (not to 100%), so that a typical pyramid fills the card.
      yAxis: { type: "value", min: 0, max: function (v) { return Math.min(1, Math.max(0.1, v.max * 1.2)); },
               splitNumber: 3, axisLabel: { show: false }, splitLine: { lineStyle: { color: GRID } } },
      series: [{
        type: "bar", barMaxWidth: 42,
        data: data.mix.map(function (m) {
          return { name: m.grade, value: m.value === null ? 0 : m.value,
                   itemStyle: { color: GRADE_COLORS[m.grade], borderRadius: [4, 4, 0, 0] } };
        }),
        label: { show: true, position: "top", color: TEXT, fontSize: 11,
                 formatter: function (p) { return pct(data.mix[p.dataIndex].value); } }
      }]
    });
  }

  function drawTrend(data) {
    var c = chart("fnl-chart-trend");
    if (!c) { return; }
    var L = data.labels, t = data.trend;
    var narrow = c.getWidth() < 560;
    function bar(key) {
      return { name: L[key], type: "bar", data: t[key], barMaxWidth: 16, barGap: "15%",
               itemStyle: { color: COLORS[key], borderRadius: [3, 3, 0, 0] } };
    }
    function line(key) {
      return { name: key, type: "line", yAxisIndex: 1, data: t[key], smooth: true, symbolSize: 5,
               connectNulls: false, lineStyle: { width: 2, color: COLORS[key] }, itemStyle: { color: COLORS[key] } };
    }
    c.setOption({
      animationDuration: 500,
      legend: { top: 0, left: 0, itemWidth: 12, itemHeight: 8, textStyle: { color: TEXT, fontSize: 11 } },
      grid: { left: 4, right: 4, top: narrow ? 52 : 34, bottom: 4, containLabel: true },
      tooltip: tooltip({ trigger: "axis", formatter: function (items) {
        var lines = [items.length ? items[0].axisValue : ""];
        if (items.length && (t.immature || [])[items[0].dataIndex]) { lines[0] += " (" + L.immature + ")"; }
        items.forEach(function (p) {
          lines.push(p.seriesName + ": " + (p.seriesIndex > 2 ? pct(p.value) : (p.value === null ? "—" : p.value)));
        });
        return lines.join("\n");
      } }),
      xAxis: { type: "category", data: t.months, axisTick: { show: false },
               axisLine: { lineStyle: { color: GRID } },
               axisLabel: { color: TEXT, fontSize: 11, formatter: function (v) { return narrow ? v.slice(5) : v; } } },
      yAxis: [
        { type: "value", minInterval: 1, axisLabel: { color: TEXT, fontSize: 11 },
          splitLine: { lineStyle: { color: GRID } } },
        { type: "value", min: 0, max: 1, axisLabel: { color: TEXT, fontSize: 11,
          formatter: function (v) { return Math.round(v * 100) + "%"; } }, splitLine: { show: false } }
      ],
      series: [immatureBand(bar("N")), bar("valid"), bar("deals"), line("K"), line("F"), line("C")]
    });
    // Young cohorts (their F and C still rising) are shaded, so a low recent C does not read as a collapse.
    function immatureBand(series) {
      var areas = [];
      (t.immature || []).forEach(function (flag, i) {
        if (flag) { areas.push([{ xAxis: t.months[i] }, { xAxis: t.months[i] }]); }
      });
      if (areas.length) {
        series.markArea = { silent: true, itemStyle: { color: "rgba(134, 142, 150, 0.14)" }, data: areas };
      }
      return series;
    }
  }

  function drawSources(data) {
    var c = chart("fnl-chart-source");
    if (!c) { return; }
    c.setOption({
      animationDuration: 500,
      tooltip: tooltip({ trigger: "item", formatter: function (p) { return p.name + ": " + p.value + " (" + p.percent + "%)"; } }),
      series: [{
        type: "pie", radius: ["42%", "66%"], center: ["50%", "50%"], avoidLabelOverlap: true,
        itemStyle: { borderColor: "#fff", borderWidth: 2 },
        label: { color: TEXT, fontSize: 12, lineHeight: 16, formatter: "{b}\n{c}" },
        labelLine: { length: 8, length2: 8 },
        data: data.sources.map(function (s) {
          return { name: s.name, value: s.value, itemStyle: { color: SOURCE_COLORS[s.key] || BRAND } };
        })
      }]
    });
  }

  function drawChannels(data) {
    var el = document.getElementById("fnl-chart-channel");
    if (!el) { return; }
    var rows = data.channels.slice().sort(function (a, b) { return a.value - b.value; });
    // As tall as its bars need (a CSSOM height, which the CSP allows, unlike a style attribute).
    el.style.height = Math.max(140, rows.length * 30 + 40) + "px";
    var c = chart("fnl-chart-channel");
    c.setOption({
      animationDuration: 500,
      grid: { left: 4, right: 28, top: 4, bottom: 4, containLabel: true },
      tooltip: tooltip({ trigger: "item", formatter: function (p) { return p.name + ": " + p.value; } }),
      xAxis: { type: "value", minInterval: 1, axisLabel: { color: TEXT, fontSize: 11 },
               splitLine: { lineStyle: { color: GRID } } },
      yAxis: { type: "category", data: rows.map(function (r) { return r.name; }), axisTick: { show: false },
               axisLine: { lineStyle: { color: GRID } }, axisLabel: { color: TEXT, fontSize: 12, width: 110, overflow: "truncate" } },
      series: [{ type: "bar", data: rows.map(function (r) { return r.value; }), barMaxWidth: 18,
                 itemStyle: { color: BRAND, borderRadius: [0, 4, 4, 0] },
                 label: { show: true, position: "right", color: TEXT, fontSize: 11 } }]
    });
  }

  function draw() {
    var holder = document.getElementById("fnl-chart-data");
    if (!holder || holder === drawnFrom) { return; }
    drawnFrom = holder;
    charts.forEach(function (c) { c.dispose(); });
    charts = [];
    var data = JSON.parse(holder.textContent);
    drawFunnel(data);
    drawMix(data);
    drawTrend(data);
    drawSources(data);
    drawChannels(data);
  }

  var resizeTimer = null;
  window.addEventListener("resize", function () {
    window.clearTimeout(resizeTimer);
    resizeTimer = window.setTimeout(function () {
      charts.forEach(function (c) { c.resize(); });
    }, 100);
  });

  // A new store has its own consultants: clear the consultant before htmx sends the form (capture phase runs
  // before the form's own change listener).
  document.addEventListener("change", function (event) {
    var el = event.target;
    if (el && el.name === "store" && el.form && el.form.classList.contains("fnl-filters")) {
      var consultant = el.form.querySelector("select[name=consultant]");
      if (consultant) { consultant.value = ""; }
    }
  }, true);

  document.addEventListener("htmx:afterSettle", draw);
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
