// A small SVG line chart: no library, readable in light and dark (it uses
// currentColor and the page's CSS variables).
import { esc } from './lib.js';

// lineChart draws points [{t: ms epoch, v: number}] and returns SVG text.
// fmt formats a value for the axis labels.
export function lineChart(points, { title, fmt = String, width = 480, height = 140 } = {}) {
  const pad = { l: 52, r: 10, t: 10, b: 22 };
  const w = width - pad.l - pad.r;
  const h = height - pad.t - pad.b;
  const label = esc(title);
  if (points.length === 0) {
    return `<svg class="chart" viewBox="0 0 ${width} ${height}" role="img" aria-label="${label}: no data yet"><text x="${width / 2}" y="${height / 2}" text-anchor="middle" class="axis">no data yet</text></svg>`;
  }
  const t0 = Math.min(...points.map((p) => p.t));
  const t1 = Math.max(...points.map((p) => p.t), t0 + 1);
  const vmax = Math.max(...points.map((p) => p.v), 1);
  const x = (t) => pad.l + ((t - t0) / (t1 - t0)) * w;
  const y = (v) => pad.t + h - (v / vmax) * h;
  const path = points.map((p, i) => `${i ? 'L' : 'M'}${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join(' ');
  const area = `${path} L${x(points[points.length - 1].t).toFixed(1)},${pad.t + h} L${x(points[0].t).toFixed(1)},${pad.t + h} Z`;
  const time = (t) => new Date(t).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
  const last = points[points.length - 1];
  const desc = `${label}: ${points.length} points from ${time(t0)} to ${time(t1)}, latest ${esc(fmt(last.v))}, highest ${esc(fmt(vmax))}`;
  const dots = points.map((p) => `<circle cx="${x(p.t).toFixed(1)}" cy="${y(p.v).toFixed(1)}" r="2.5"><title>${esc(time(p.t))}: ${esc(fmt(p.v))}</title></circle>`).join('');
  return `<svg class="chart" viewBox="0 0 ${width} ${height}" role="img" aria-label="${desc}">
<line class="grid" x1="${pad.l}" x2="${pad.l + w}" y1="${pad.t}" y2="${pad.t}"/>
<line class="grid" x1="${pad.l}" x2="${pad.l + w}" y1="${pad.t + h / 2}" y2="${pad.t + h / 2}"/>
<line class="axisline" x1="${pad.l}" x2="${pad.l + w}" y1="${pad.t + h}" y2="${pad.t + h}"/>
<text class="axis" x="${pad.l - 6}" y="${pad.t + 4}" text-anchor="end">${esc(fmt(vmax))}</text>
<text class="axis" x="${pad.l - 6}" y="${pad.t + h / 2 + 4}" text-anchor="end">${esc(fmt(vmax / 2))}</text>
<text class="axis" x="${pad.l - 6}" y="${pad.t + h + 4}" text-anchor="end">0</text>
<text class="axis" x="${pad.l}" y="${height - 4}">${esc(time(t0))}</text>
<text class="axis" x="${pad.l + w}" y="${height - 4}" text-anchor="end">${esc(time(t1))}</text>
<path class="area" d="${area}"/><path class="line" d="${path}"/>${dots}</svg>`;
}

// buckets groups jobs finished (done_at) into about n equal time buckets
// over the span they cover and returns throughput (requests per minute)
// and mean latency (queued → done, ms) per bucket.
export function series(jobs, n = 16) {
  const done = jobs
    .filter((j) => j.done_at && !j.done_at.startsWith('0001-'))
    .map((j) => ({ t: Date.parse(j.done_at), lat: Date.parse(j.done_at) - Date.parse(j.queued_at) }))
    .sort((a, b) => a.t - b.t);
  if (done.length === 0) return { throughput: [], latency: [] };
  const end = Math.max(Date.now(), done[done.length - 1].t);
  const start = Math.min(done[0].t, end - 60_000);
  const width = Math.max(1000, (end - start) / n);
  const bins = [];
  for (let b = start; b < end; b += width) bins.push({ t: b + width, count: 0, lat: 0 });
  for (const d of done) {
    const i = Math.min(bins.length - 1, Math.floor((d.t - start) / width));
    bins[i].count++;
    bins[i].lat += d.lat;
  }
  return {
    throughput: bins.map((b) => ({ t: b.t, v: (b.count * 60_000) / width })),
    latency: bins.filter((b) => b.count > 0).map((b) => ({ t: b.t, v: b.lat / b.count })),
  };
}
