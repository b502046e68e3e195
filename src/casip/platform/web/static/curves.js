"use strict";
/* Voltage against capacity: the Plotly traces of an answer of GET /api/tests/{id}/curves.
   Shared by the test page (test.js) and the measured tests of a design page (design_tests.js),
   so that a test's curves look the same on both. A simulated answer of the same shape (the
   replay of a test against a design, casip.physics.replay, when it exists) is drawn with the
   same colours per cycle and dashed lines. */
(function () {
  /**
   * @param {object} answer  {cycles: [...], curves: [{cycle, branch, capacity_ah, voltage_volt}]}
   * @param {function} capValue  capacity [Ah] -> the number shown (units, per gram, per area)
   * @param {object} [opts]  {label: "measured"|"simulated" (name prefix), dash: line dash for
   *                         discharge (charge is dotted, or opts.chargeDash), showlegend}
   * @returns {Array} Plotly traces, one per cycle and branch
   */
  function voltageCurveTraces(answer, capValue, opts) {
    opts = opts || {};
    const cycleList = (answer && answer.cycles) || [];
    const prefix = opts.label ? opts.label + " " : "";
    return ((answer && answer.curves) || []).map(function (c) {
      const i = cycleList.indexOf(c.cycle);
      return { type: "scatter", mode: "lines", name: prefix + "cycle " + c.cycle + " " + c.branch,
        x: c.capacity_ah.map(function (v) { return v === null ? null : capValue(v); }), y: c.voltage_volt,
        line: { color: casip.COLORS[(i < 0 ? 0 : i) % casip.COLORS.length],
          dash: c.branch === "charge" ? (opts.chargeDash || "dot") : (opts.dash || "solid") },
        connectgaps: false, showlegend: opts.showlegend };
    });
  }
  /** the Plotly layout of a voltage-capacity plot with the given x-axis title */
  function voltageCurveLayout(xTitle) {
    return { xaxis: { title: { text: xTitle }, gridcolor: "#eef1f4", rangemode: "tozero" },
      yaxis: { title: { text: "Voltage [V]" }, gridcolor: "#eef1f4" } };
  }
  window.casip.voltageCurveTraces = voltageCurveTraces;
  window.casip.voltageCurveLayout = voltageCurveLayout;
})();
