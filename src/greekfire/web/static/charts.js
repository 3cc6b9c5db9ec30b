// greekfire dashboard charts: line chart, bar chart and histogram on a <canvas>, no library.
//
// Every chart sizes its canvas to the element's CSS width (times devicePixelRatio), draws
// axes with "nice" ticks and labels, and marks the canvas when done:
//   data-rendered="true"   the chart is drawn (also when there is nothing to plot)
//   data-points="<n>"      how many data points it plots (histogram: observations)
// The last spec is remembered per canvas so that a window resize redraws it.

export const PALETTE = [
  "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
  "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
];

const THEME = {
  axis: "#8a94a6",
  grid: "rgba(138, 148, 166, 0.18)",
  text: "#c9d1e0",
  muted: "#8a94a6",
  font: "12px system-ui, -apple-system, 'Segoe UI', sans-serif",
  ref: "#e15759",
};

const specs = new WeakMap();

function setup(canvas) {
  const dpr = window.devicePixelRatio || 1;
  const cssWidth = Math.max(canvas.clientWidth || canvas.parentElement?.clientWidth || 600, 200);
  const cssHeight = Number(canvas.getAttribute("height")) || 240;
  canvas.style.height = `${cssHeight}px`;
  canvas.width = Math.round(cssWidth * dpr);
  canvas.height = Math.round(cssHeight * dpr);
  canvas.setAttribute("height", String(cssHeight));
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, cssWidth, cssHeight);
  ctx.font = THEME.font;
  ctx.textBaseline = "middle";
  return { ctx, width: cssWidth, height: cssHeight };
}

function finish(canvas, points) {
  canvas.dataset.points = String(points);
  canvas.dataset.rendered = "true";
}

// Round step (1, 2 or 5 times a power of ten) giving about `count` ticks over [lo, hi].
// minStep: 1 for counts, so that an axis never shows fractions of a cycle or a fill.
export function niceTicks(lo, hi, count = 5, minStep = 0) {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [0, 1];
  if (hi === lo) {
    const pad = Math.abs(hi) > 0 ? Math.abs(hi) * 0.05 : 1;
    lo -= pad;
    hi += pad;
  }
  const raw = (hi - lo) / Math.max(count, 1);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  const step = Math.max((norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * mag, minStep);
  const start = Math.floor(lo / step) * step;
  const ticks = [];
  for (let v = start; v <= hi + step * 0.5 && ticks.length < 50; v += step) {
    ticks.push(Number(v.toPrecision(12)));
  }
  return ticks;
}

export function formatNumber(value, digits = 2) {
  if (value === null || value === undefined || !Number.isFinite(value)) return "-";
  const abs = Math.abs(value);
  if (abs >= 1e9) return `${(value / 1e9).toFixed(2)}G`;
  if (abs >= 1e6) return `${(value / 1e6).toFixed(2)}M`;
  if (abs >= 1e4) return `${(value / 1e3).toFixed(1)}k`;
  if (abs >= 100) return value.toFixed(0);
  if (abs === 0) return "0";
  if (abs >= 1) return value.toFixed(Math.min(digits, 2));
  return value.toPrecision(2);
}

function noData(ctx, width, height, message) {
  ctx.fillStyle = THEME.muted;
  ctx.textAlign = "center";
  ctx.fillText(message || "no data yet", width / 2, height / 2);
}

function drawYAxis(ctx, box, ticks, lo, hi, format, label) {
  ctx.strokeStyle = THEME.grid;
  ctx.fillStyle = THEME.text;
  ctx.textAlign = "right";
  ctx.lineWidth = 1;
  for (const t of ticks) {
    if (t < lo - 1e-12 || t > hi + 1e-12) continue;
    const y = box.y1 - ((t - lo) / (hi - lo)) * (box.y1 - box.y0);
    ctx.beginPath();
    ctx.moveTo(box.x0, y);
    ctx.lineTo(box.x1, y);
    ctx.stroke();
    ctx.fillText(format(t), box.x0 - 6, y);
  }
  ctx.strokeStyle = THEME.axis;
  ctx.beginPath();
  ctx.moveTo(box.x0, box.y0);
  ctx.lineTo(box.x0, box.y1);
  ctx.lineTo(box.x1, box.y1);
  ctx.stroke();
  if (label) {
    ctx.save();
    ctx.translate(12, (box.y0 + box.y1) / 2);
    ctx.rotate(-Math.PI / 2);
    ctx.textAlign = "center";
    ctx.fillStyle = THEME.muted;
    ctx.fillText(label, 0, 0);
    ctx.restore();
  }
}

function drawLegend(ctx, entries, x, y, maxWidth) {
  let cx = x;
  let cy = y;
  ctx.textAlign = "left";
  for (const { name, color } of entries) {
    const w = ctx.measureText(name).width + 26;
    if (cx + w > x + maxWidth && cx > x) {
      cx = x;
      cy += 16;
    }
    ctx.fillStyle = color;
    ctx.fillRect(cx, cy - 4, 12, 8);
    ctx.fillStyle = THEME.text;
    ctx.fillText(name, cx + 16, cy);
    cx += w;
  }
  return cy - y + 16;
}

function legendHeight(ctx, entries, maxWidth) {
  if (entries.length <= 1) return 0;
  let rows = 1;
  let cx = 0;
  for (const { name } of entries) {
    const w = ctx.measureText(name).width + 26;
    if (cx + w > maxWidth && cx > 0) {
      rows += 1;
      cx = 0;
    }
    cx += w;
  }
  return rows * 16 + 4;
}

/**
 * Line chart.
 * spec: { series: [{name, color?, points: [[x, y], ...]}], xFormat(x) -> str,
 *         yFormat(y) -> str, xLabel, yLabel, empty: message }
 * x and y are numbers; non-finite y values break the line.
 */
export function lineChart(canvas, spec) {
  specs.set(canvas, ["line", spec]);
  const { ctx, width, height } = setup(canvas);
  const series = (spec.series || []).map((s, i) => ({
    ...s,
    color: s.color || PALETTE[i % PALETTE.length],
    points: (s.points || []).filter((p) => Number.isFinite(p[0]) && Number.isFinite(p[1])),
  }));
  const all = series.flatMap((s) => s.points);
  const npoints = series.reduce((m, s) => Math.max(m, s.points.length), 0);
  if (all.length === 0) {
    noData(ctx, width, height, spec.empty);
    finish(canvas, 0);
    return;
  }
  const xFormat = spec.xFormat || ((x) => formatNumber(x));
  const yFormat = spec.yFormat || ((y) => formatNumber(y));
  let xlo = Math.min(...all.map((p) => p[0]));
  let xhi = Math.max(...all.map((p) => p[0]));
  if (xhi === xlo) {
    xlo -= 1;
    xhi += 1;
  }
  const yticks = niceTicks(Math.min(...all.map((p) => p[1])), Math.max(...all.map((p) => p[1])));
  const ylo = yticks[0];
  const yhi = yticks[yticks.length - 1];
  const yLabelWidth = Math.max(...yticks.map((t) => ctx.measureText(yFormat(t)).width));
  const top = 8 + legendHeight(ctx, series, width - 80);
  const box = { x0: 30 + yLabelWidth, x1: width - 16, y0: top, y1: height - 36 };
  drawYAxis(ctx, box, yticks, ylo, yhi, yFormat, spec.yLabel);
  const sx = (x) => box.x0 + ((x - xlo) / (xhi - xlo)) * (box.x1 - box.x0);
  const sy = (y) => box.y1 - ((y - ylo) / (yhi - ylo)) * (box.y1 - box.y0);
  // x ticks: evenly spaced (time axes) or nice round values (spec.xInteger: cycle numbers)
  const nx = Math.max(2, Math.min(6, Math.floor((box.x1 - box.x0) / 120)));
  const xticks = spec.xInteger
    ? niceTicks(xlo, xhi, nx, 1).filter((x) => x >= xlo && x <= xhi)
    : Array.from({ length: nx + 1 }, (_, i) => xlo + ((xhi - xlo) * i) / nx);
  ctx.fillStyle = THEME.text;
  ctx.textAlign = "center";
  for (const x of xticks) {
    const px = sx(x);
    ctx.strokeStyle = THEME.axis;
    ctx.beginPath();
    ctx.moveTo(px, box.y1);
    ctx.lineTo(px, box.y1 + 4);
    ctx.stroke();
    ctx.fillText(xFormat(x), Math.min(Math.max(px, box.x0 + 30), box.x1 - 30), box.y1 + 14);
  }
  if (spec.xLabel) {
    ctx.fillStyle = THEME.muted;
    ctx.fillText(spec.xLabel, (box.x0 + box.x1) / 2, height - 8);
  }
  for (const s of series) {
    ctx.strokeStyle = s.color;
    ctx.lineWidth = s.width || 1.6;
    ctx.beginPath();
    s.points.forEach(([x, y], i) => (i === 0 ? ctx.moveTo(sx(x), sy(y)) : ctx.lineTo(sx(x), sy(y))));
    ctx.stroke();
    if (s.points.length === 1) {
      ctx.fillStyle = s.color;
      ctx.beginPath();
      ctx.arc(sx(s.points[0][0]), sy(s.points[0][1]), 3, 0, 2 * Math.PI);
      ctx.fill();
    }
  }
  if (series.length > 1) drawLegend(ctx, series, box.x0, 10, width - box.x0 - 16);
  finish(canvas, npoints);
}

/**
 * Bar chart (vertical bars, one per label).
 * spec: { labels: [str], values: [number|null], colors?: [str], yFormat, yLabel,
 *         refLine?: {value, label}, empty }
 * A null value leaves its slot empty (labelled); data-points counts the drawn bars.
 */
export function barChart(canvas, spec) {
  specs.set(canvas, ["bar", spec]);
  const { ctx, width, height } = setup(canvas);
  const labels = spec.labels || [];
  const values = (spec.values || []).map((v) => (Number.isFinite(v) ? v : null));
  const drawn = values.filter((v) => v !== null);
  if (drawn.length === 0) {
    noData(ctx, width, height, spec.empty);
    finish(canvas, 0);
    return;
  }
  const yFormat = spec.yFormat || ((y) => formatNumber(y));
  const ref = spec.refLine && Number.isFinite(spec.refLine.value) ? spec.refLine : null;
  const extent = [...drawn, 0, ...(ref ? [ref.value] : [])];
  const yticks = niceTicks(Math.min(...extent), Math.max(...extent), 5, spec.yInteger ? 1 : 0);
  const ylo = Math.min(yticks[0], 0);
  const yhi = yticks[yticks.length - 1];
  const yLabelWidth = Math.max(...yticks.map((t) => ctx.measureText(yFormat(t)).width));
  const box = { x0: 30 + yLabelWidth, x1: width - 16, y0: 22, y1: height - 40 };
  drawYAxis(ctx, box, yticks, ylo, yhi, yFormat, spec.yLabel);
  const sy = (y) => box.y1 - ((y - ylo) / (yhi - ylo)) * (box.y1 - box.y0);
  const slot = (box.x1 - box.x0) / Math.max(labels.length, 1);
  const barWidth = Math.max(1, Math.min(60, slot * 0.7));
  const every = Math.max(1, Math.ceil(labels.length / Math.max(1, Math.floor((box.x1 - box.x0) / 70))));
  labels.forEach((label, i) => {
    const cx = box.x0 + slot * (i + 0.5);
    const v = values[i];
    if (v !== null) {
      ctx.fillStyle = (spec.colors && spec.colors[i]) || PALETTE[0];
      const y0 = sy(0);
      const y1 = sy(v);
      ctx.fillRect(cx - barWidth / 2, Math.min(y0, y1), barWidth, Math.max(1, Math.abs(y1 - y0)));
    }
    if (i % every === 0) {
      ctx.fillStyle = v === null ? THEME.muted : THEME.text;
      ctx.textAlign = "center";
      ctx.fillText(String(label), cx, box.y1 + 14);
      if (v === null && spec.nullLabel) ctx.fillText(spec.nullLabel, cx, box.y1 + 28);
    }
  });
  if (ref) {
    const y = sy(ref.value);
    ctx.strokeStyle = THEME.ref;
    ctx.setLineDash([5, 4]);
    ctx.beginPath();
    ctx.moveTo(box.x0, y);
    ctx.lineTo(box.x1, y);
    ctx.stroke();
    ctx.setLineDash([]);
    if (ref.label) {
      ctx.fillStyle = THEME.ref;
      ctx.textAlign = "right";
      ctx.fillText(ref.label, box.x1, y - 8);
    }
  }
  finish(canvas, drawn.length);
}

function edgeLabel(edge) {
  if (edge === null || edge === undefined || !Number.isFinite(edge)) return "inf";
  if (Number.isInteger(edge)) return edge >= 1e4 ? formatNumber(edge) : String(edge);
  return edge >= 1 ? edge.toFixed(1) : String(Number(edge.toPrecision(2)));
}

/**
 * Histogram over given bin edges (n + 1 edges, n counts). Bins are drawn equally wide and
 * labelled with their upper edge in `unit`, which reads well for log-spaced latency buckets.
 * data-points is the number of observations.
 */
export function histogram(canvas, spec) {
  specs.set(canvas, ["histogram", spec]);
  const { ctx, width, height } = setup(canvas);
  const counts = (spec.counts || []).map((c) => (Number.isFinite(c) ? c : 0));
  const edges = spec.edges || [];
  const total = counts.reduce((a, b) => a + b, 0);
  if (counts.length === 0 || total === 0) {
    noData(ctx, width, height, spec.empty);
    finish(canvas, 0);
    return;
  }
  const yticks = niceTicks(0, Math.max(...counts), 4, 1);
  const yhi = yticks[yticks.length - 1] || 1;
  const yLabelWidth = Math.max(...yticks.map((t) => ctx.measureText(String(t)).width));
  const box = { x0: 30 + yLabelWidth, x1: width - 12, y0: 22, y1: height - 34 };
  drawYAxis(ctx, box, yticks, 0, yhi, (t) => String(t), spec.yLabel || "cycles");
  if (spec.title) {
    ctx.fillStyle = THEME.text;
    ctx.textAlign = "left";
    ctx.fillText(spec.title, box.x0 + 4, 10);
  }
  const slot = (box.x1 - box.x0) / counts.length;
  const labelWidth = Math.max(...counts.map((_, i) => ctx.measureText(edgeLabel(edges[i + 1])).width)) + 8;
  const every = Math.max(1, Math.ceil(labelWidth / slot));
  counts.forEach((c, i) => {
    const x = box.x0 + slot * i;
    const h = (c / yhi) * (box.y1 - box.y0);
    ctx.fillStyle = spec.color || PALETTE[0];
    if (c > 0) ctx.fillRect(x + 1, box.y1 - h, Math.max(1, slot - 2), Math.max(1, h));
    if ((counts.length - 1 - i) % every === 0) {
      ctx.fillStyle = THEME.text;
      ctx.textAlign = "center";
      ctx.fillText(edgeLabel(edges[i + 1]), x + slot, box.y1 + 12);
    }
  });
  if (spec.xLabel) {
    ctx.fillStyle = THEME.muted;
    ctx.textAlign = "center";
    ctx.fillText(spec.xLabel, (box.x0 + box.x1) / 2, height - 8);
  }
  finish(canvas, total);
}

const DRAW = { line: lineChart, bar: barChart, histogram };

let resizeTimer = null;
window.addEventListener("resize", () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => {
    for (const canvas of document.querySelectorAll("canvas[data-rendered]")) {
      const entry = specs.get(canvas);
      if (entry && canvas.offsetParent !== null) DRAW[entry[0]](canvas, entry[1]);
    }
  }, 150);
});
