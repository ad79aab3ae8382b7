/**
 * The live status page served at `/status`: one self-contained HTML document (no build step, no
 * external resources) that polls `/status.json` every second.
 *
 * @module
 */

/** The page's HTML. The element ids (`sessions`, `outages`, `chart`) are what tests read. */
export const STATUS_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>subgate status</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #1b1f24; }
  h1 { font-size: 20px; margin: 0 0 4px; }
  .muted { color: #59636e; }
  .figures { display: flex; gap: 32px; margin: 16px 0; }
  .figure b { display: block; font-size: 28px; }
  table { border-collapse: collapse; margin-top: 8px; }
  th, td { text-align: left; padding: 4px 12px 4px 0; border-bottom: 1px solid #d1d9e0; }
  .open { color: #1a7f37; } .waiting, .connecting { color: #9a6700; } .restoring { color: #0969da; }
  svg { border: 1px solid #d1d9e0; background: #f6f8fa; }
</style>
</head>
<body>
<h1>subgate</h1>
<div class="muted">target <span id="target">…</span> · updated <span id="updated">never</span></div>
<div class="figures">
  <div class="figure"><b id="sessions">–</b>client sessions</div>
  <div class="figure"><b id="open">–</b>upstreams open</div>
  <div class="figure"><b id="outages">–</b>outages (10 min)</div>
  <div class="figure"><b id="longest">–</b>longest outage</div>
</div>
<svg id="chart" width="720" height="160" viewBox="0 0 720 160" role="img" aria-label="outages over the last 10 minutes"></svg>
<div class="muted">each bar: one outage, placed when it started, as tall as it lasted (log scale, 10 ms to 60 s)</div>
<table>
  <thead><tr><th>session</th><th>upstream</th><th>generation</th><th>queued</th><th>since</th></tr></thead>
  <tbody id="rows"></tbody>
</table>
<script>
const WINDOW = 10 * 60 * 1000;
const text = (id, value) => { document.getElementById(id).textContent = value; };
const ms = (value) => value >= 1000 ? (value / 1000).toFixed(1) + ' s' : Math.round(value) + ' ms';
function chart(events, now) {
  const svg = document.getElementById('chart');
  const bars = events.filter((e) => e.kind === 'outage').map((e) => {
    const x = 10 + ((e.at - (now - WINDOW)) / WINDOW) * 700;
    const h = Math.max(2, Math.min(1, Math.log10(Math.max(10, e.durationMs) / 10) / Math.log10(6000)) * 140);
    return '<rect x="' + x.toFixed(1) + '" y="' + (150 - h).toFixed(1) + '" width="4" height="' + h.toFixed(1) +
      '" fill="#cf222e"><title>' + ms(e.durationMs) + '</title></rect>';
  });
  const gaveUp = events.filter((e) => e.kind === 'gave-up').map((e) => {
    const x = 10 + ((e.at - (now - WINDOW)) / WINDOW) * 700;
    return '<line x1="' + x.toFixed(1) + '" x2="' + x.toFixed(1) + '" y1="10" y2="150" stroke="#1b1f24" stroke-dasharray="3 3"/>';
  });
  svg.innerHTML = '<line x1="10" x2="710" y1="150" y2="150" stroke="#59636e"/>' +
    '<text x="10" y="14" font-size="11" fill="#59636e">-10 min</text>' +
    '<text x="680" y="14" font-size="11" fill="#59636e">now</text>' + bars.join('') + gaveUp.join('');
}
async function refresh() {
  try {
    const status = await (await fetch('status.json', { cache: 'no-store' })).json();
    const outages = status.events.filter((e) => e.kind === 'outage');
    text('target', status.target);
    text('updated', new Date(status.now).toLocaleTimeString());
    text('sessions', status.sessions.length);
    text('open', status.sessions.filter((s) => s.upstreamState === 'open').length);
    text('outages', outages.length);
    text('longest', outages.length ? ms(Math.max(...outages.map((e) => e.durationMs))) : '–');
    document.getElementById('rows').innerHTML = status.sessions.map((s) =>
      '<tr><td>' + s.id.slice(0, 8) + '</td><td class="' + s.upstreamState + '">' + s.upstreamState +
      '</td><td>' + s.generation + '</td><td>' + s.queuedFrames + '</td><td>' +
      ms(status.now - s.startedAt) + '</td></tr>').join('');
    chart(status.events, status.now);
  } catch (error) {
    text('updated', 'unreachable (' + error.message + ')');
  }
}
refresh();
setInterval(refresh, 1000);
</script>
</body>
</html>
`;
