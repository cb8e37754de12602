// Charts through uPlot (installed from npm by web/build.sh, served from web/vendor/), each
// following its container's width and taking whole series at once: line charts of a job's
// curves, and a study's figures with error bars over its axis.
import uPlot from './vendor/uPlot.esm.js';

const HEIGHT = 200;
const COLORS = ['#2563eb', '#dc2626', '#059669', '#d97706'];

// Tick labels for values spanning decades (learning rates): 1.0e-4 rather than 0.0001.
const expTicks = (u, ticks) => ticks.map((v) => (v === 0 ? '0' : v.toExponential(1)));

// A scale's range fitted to its data: from lo to hi with pad (a share of the span, at least
// minPad) on either side, kept within [floor, ceil]. uPlot's own choice for a lone point
// spans 0–100 around it, in which the point and its neighbours look like nothing.
export function fitRange({ share = 0.1, minPad = 0, floor = -Infinity, ceil = Infinity } = {}) {
  return (u, lo, hi) => {
    if (lo === null || hi === null || !Number.isFinite(lo) || !Number.isFinite(hi)) {
      return [Math.max(floor, 0), Math.min(ceil, 1)];
    }
    const pad = Math.max((hi - lo) * share, minPad, Math.abs(hi) * 1e-6, 1e-9);
    return [Math.max(floor, lo - pad), Math.min(ceil, hi + pad)];
  };
}

// el: the container. opts: {title, x: axis label, xRange?, series: [{label, scale?, exp?,
// points?, range?}]}; a series with scale '%' is drawn against a second axis on the right.
// xRange and range: uPlot range functions ((u, dataMin, dataMax) → [min, max]) for the x
// scale and the series' scale; without them uPlot chooses.
export function lineChart(el, { title, x, xRange, series }) {
  const scales = { x: { time: false } };
  if (xRange) scales.x.range = xRange;
  const axes = [{ label: x }];
  for (const s of series) {
    const scale = s.scale || 'y';
    if (scales[scale]) continue;
    scales[scale] = { auto: true };
    if (s.range) scales[scale].range = s.range;
    // uPlot copies option keys as given (undefined too), so only set what differs.
    const axis = { scale, size: s.exp ? 70 : 55, grid: { show: axes.length === 1 } };
    if (s.exp) axis.values = expTicks;
    if (scale === '%') Object.assign(axis, { side: 1, label: '%' });
    axes.push(axis);
  }
  const line = (s, i) => {
    const opt = { label: s.label, scale: s.scale || 'y', stroke: COLORS[i % COLORS.length], width: 2 };
    // Without this uPlot shows points only where they are sparse (e.g. a single one).
    if (s.points) opt.points = { show: true };
    if (s.exp) opt.value = (u, v) => (v === null ? '—' : v.toExponential(2));
    return opt;
  };
  const opts = {
    title,
    scales,
    axes,
    series: [{ label: x }, ...series.map(line)],
    hooks: {
      // Each scale's current [min, max], for people and tests (data-ranges on the container).
      setScale: [(u) => {
        el.dataset.ranges = JSON.stringify(Object.fromEntries(Object.keys(scales).map((k) => [k, [u.scales[k].min, u.scales[k].max]])));
      }],
    },
  };
  return mountPlot(el, opts, series.length);
}

// A uPlot of opts (its size the container's) with `count` empty series in el, following the
// container's width: {setData(columns), destroy()}.
function mountPlot(el, opts, count, height = HEIGHT) {
  const plot = new uPlot({ ...opts, width: el.clientWidth || 600, height },
    [[], ...Array.from({ length: count }, () => [])], el);
  el.dataset.points = 0;
  const resize = new ResizeObserver(() => {
    if (el.clientWidth) plot.setSize({ width: el.clientWidth, height });
  });
  resize.observe(el);
  return {
    // columns: [xs, ys1, ys2, ...] of equal length, xs ascending.
    setData(columns) {
      plot.setData(columns);
      el.dataset.points = columns[0].length; // how many points are drawn, for people and tests
      el.columns = columns; // what is drawn, for tests
    },
    destroy() {
      resize.disconnect();
      plot.destroy();
    },
  };
}

const LABEL_CHAR_PX = 7; // about the width of a character of an axis label
const DEFAULT_AXIS_SIZE = 50; // uPlot's height of an x axis

// Figures with error bars over an axis: el, the container; opts {title, x: the axis's label,
// labels: null for a numeric axis (x is its values), or the text of each position of a
// categorical one (x is 0, 1, …: ticks at the positions, labelled), series: [{label, dash?,
// line?}]} (line: join the points; a categorical axis's points stand alone). Every series is a
// percentage on one axis fitted to the bars. setData({xs, series: [{mean: [...], err: [...]}]}):
// each mean ± err drawn as a point with a whisker (err null: the point alone; mean null: nothing).
export function errorBarChart(el, { title, x, labels, series }) {
  let bars = []; // per series: the errors of its points, as the draw hook reads them
  const whiskers = (u) => {
    const { ctx } = u;
    let drawn = 0;
    ctx.save();
    ctx.lineWidth = 1.5 * devicePixelRatio;
    series.forEach((s, i) => {
      const errs = bars[i] || [];
      if (!u.series[i + 1].show) return;
      ctx.strokeStyle = COLORS[i % COLORS.length];
      u.data[0].forEach((xv, j) => {
        const mean = u.data[i + 1][j], err = errs[j];
        if (mean === null || mean === undefined || !Number.isFinite(err)) return;
        const px = u.valToPos(xv, 'x', true), lo = u.valToPos(mean - err, '%', true), hi = u.valToPos(mean + err, '%', true);
        const cap = 5 * devicePixelRatio;
        ctx.beginPath();
        ctx.moveTo(px, lo);
        ctx.lineTo(px, hi);
        ctx.moveTo(px - cap, lo);
        ctx.lineTo(px + cap, lo);
        ctx.moveTo(px - cap, hi);
        ctx.lineTo(px + cap, hi);
        ctx.stroke();
        drawn++;
      });
    });
    ctx.restore();
    el.dataset.errorBars = drawn; // how many whiskers are drawn, for people and tests
  };
  // The percentage scale covers the whiskers, not only the means.
  const percentRange = (u) => {
    const ends = [];
    series.forEach((s, i) => (u.data[i + 1] || []).forEach((m, j) => {
      if (m === null || m === undefined) return;
      const err = Number.isFinite(bars[i]?.[j]) ? bars[i][j] : 0;
      ends.push(m - err, m + err);
    }));
    return fitRange({ share: 0.15, minPad: 1, floor: 0, ceil: 100 })(u, ends.length ? Math.min(...ends) : null,
      ends.length ? Math.max(...ends) : null);
  };
  const xAxis = { label: x };
  const scales = { x: { time: false }, '%': { auto: true, range: percentRange } };
  if (labels) {
    scales.x.range = () => [-0.5, labels.length - 0.5];
    Object.assign(xAxis, { splits: () => labels.map((_, i) => i), values: (u, splits) => splits.map((i) => labels[i] ?? '') });
    // Labels wider than their share of the axis would print over each other: slanted, each
    // ending at its tick, the axis (and the chart) grown to hold the longest.
    const longest = Math.max(...labels.map((l) => l.length));
    if (labels.length * (longest * LABEL_CHAR_PX + 12) > (el.clientWidth || 600) - 80) {
      Object.assign(xAxis, { rotate: 35, size: Math.min(180, 20 + longest * LABEL_CHAR_PX * 0.6) });
    }
  }
  const opts = {
    title,
    scales,
    axes: [xAxis, { scale: '%', label: '%', size: 55 }],
    series: [{ label: x, value: labels ? (u, v) => (v === null ? '—' : labels[v] ?? v) : undefined },
      ...series.map((s, i) => {
        const opt = { label: s.label, scale: '%', stroke: COLORS[i % COLORS.length], width: 2, points: { show: true, size: 7 } };
        if (s.dash) opt.dash = s.dash;
        if (labels && !s.line) opt.paths = () => null;
        return opt;
      })],
    hooks: { draw: [whiskers] },
  };
  if (!opts.series[0].value) delete opts.series[0].value;
  const chart = mountPlot(el, opts, series.length, HEIGHT + (xAxis.size ? xAxis.size - DEFAULT_AXIS_SIZE : 0));
  el.dataset.errorBars = 0;
  return {
    setData({ xs, series: data }) {
      bars = data.map((d) => d.err);
      chart.setData([xs, ...data.map((d) => d.mean)]);
    },
    destroy: chart.destroy,
  };
}
