// Line charts through uPlot (installed from npm by web/build.sh, served from web/vendor/):
// a chart that follows its container's width and takes whole series at once.
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
    width: el.clientWidth || 600,
    height: HEIGHT,
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
  const plot = new uPlot(opts, [[], ...series.map(() => [])], el);
  el.dataset.points = 0;
  const resize = new ResizeObserver(() => {
    if (el.clientWidth) plot.setSize({ width: el.clientWidth, height: HEIGHT });
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
