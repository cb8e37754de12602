// Line charts through uPlot (installed from npm by web/build.sh, served from web/vendor/):
// a chart that follows its container's width and takes whole series at once.
import uPlot from './vendor/uPlot.esm.js';

const HEIGHT = 200;
const COLORS = ['#2563eb', '#dc2626', '#059669', '#d97706'];

// Tick labels for values spanning decades (learning rates): 1.0e-4 rather than 0.0001.
const expTicks = (u, ticks) => ticks.map((v) => (v === 0 ? '0' : v.toExponential(1)));

// el: the container. opts: {title, x: axis label, series: [{label, scale?, exp?, points?}]}; a series
// with scale '%' is drawn against a second axis on the right.
export function lineChart(el, { title, x, series }) {
  const scales = { x: { time: false } };
  const axes = [{ label: x }];
  for (const s of series) {
    const scale = s.scale || 'y';
    if (scales[scale]) continue;
    scales[scale] = { auto: true };
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
    },
    destroy() {
      resize.disconnect();
      plot.destroy();
    },
  };
}
