/**
 * The dashboard page served at GET /_larder/dashboard: one static HTML file with inline JS,
 * no build step, charts in plain SVG. It reads `/_larder/dashboard/feed` (SSE) with fetch so
 * it can send the bearer token (EventSource cannot set headers). The token comes from the
 * URL fragment (`#token=…`, never sent to the server in the URL) or the form, and is kept
 * in sessionStorage. All data is written with textContent: tenant ids, keys and tags are
 * untrusted and must never become markup.
 * @module
 */
export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Larder dashboard</title>
<style>
  :root { --bg:#0f1419; --panel:#182029; --text:#e6e9ee; --muted:#8b96a3; --ok:#3fb950; --warn:#d29922; --crit:#f85149; --accent:#58a6ff; }
  * { box-sizing: border-box; }
  body { margin:0; font:14px/1.4 system-ui, -apple-system, Segoe UI, sans-serif; background:var(--bg); color:var(--text); }
  header { display:flex; align-items:center; gap:16px; padding:12px 20px; border-bottom:1px solid #2a3441; }
  header h1 { font-size:18px; margin:0; }
  #status { color:var(--muted); font-size:12px; }
  #status.live { color:var(--ok); }
  #status.down { color:var(--crit); }
  form { margin-left:auto; display:flex; gap:6px; }
  input { background:var(--panel); color:var(--text); border:1px solid #2a3441; padding:4px 8px; border-radius:4px; }
  button { background:var(--accent); border:0; color:#fff; padding:4px 10px; border-radius:4px; cursor:pointer; }
  main { padding:16px 20px; display:grid; gap:16px; }
  .tiles { display:grid; grid-template-columns:repeat(auto-fill, minmax(170px, 1fr)); gap:12px; }
  .tile { background:var(--panel); border-radius:6px; padding:10px 12px; }
  .tile .label { color:var(--muted); font-size:12px; }
  .tile .value { font-size:22px; overflow-wrap:anywhere; font-variant-numeric:tabular-nums; margin-top:2px; }
  .grid2 { display:grid; grid-template-columns:1fr 1fr; gap:16px; }
  section { background:var(--panel); border-radius:6px; padding:12px; min-width:0; }
  section h2 { font-size:13px; margin:0 0 8px; color:var(--muted); text-transform:uppercase; letter-spacing:.05em; }
  table { width:100%; border-collapse:collapse; font-variant-numeric:tabular-nums; }
  th, td { text-align:left; padding:3px 6px; border-bottom:1px solid #2a3441; white-space:nowrap; overflow:hidden; text-overflow:ellipsis; max-width:280px; }
  th { color:var(--muted); font-weight:500; }
  td.n, th.n { text-align:right; }
  #tenants td:first-child { max-width:160px; }
  .chart { display:grid; grid-template-columns:auto 1fr; grid-template-rows:140px auto; column-gap:6px; }
  .chart .y { display:flex; flex-direction:column; justify-content:space-between; text-align:right; color:var(--muted); font-size:11px; font-variant-numeric:tabular-nums; min-width:3em; }
  .chart .x { grid-column:2; display:flex; justify-content:space-between; color:var(--muted); font-size:11px; font-variant-numeric:tabular-nums; }
  .chart svg { width:100%; height:140px; display:block; border-left:1px solid #2a3441; border-bottom:1px solid #2a3441; }
  .chart line.grid { stroke:#2a3441; stroke-width:1; }
  #instance { color:var(--text); background:#23303d; padding:2px 8px; border-radius:4px; font-size:12px; }
  .alert { padding:6px 8px; border-radius:4px; margin-bottom:6px; }
  .alert.firing.critical { background:#5a1d1d; }
  .alert.firing.warning { background:#4d3b0f; }
  .alert.pending { background:#23303d; }
  .none { color:var(--muted); }
  .bar { height:8px; background:#2a3441; border-radius:4px; overflow:hidden; }
  .bar > div { height:100%; background:var(--accent); }
</style>
</head>
<body>
<header>
  <h1>Larder</h1>
  <span id="instance" title="The instances whose traffic this page shows: each process has its own dashboard."></span>
  <span id="status">connecting…</span>
  <form id="auth"><input id="token" type="password" placeholder="admin or read:stats token" autocomplete="off"><button>Connect</button></form>
</header>
<main>
  <div class="tiles">
    <div class="tile"><div class="label">Hit ratio (1m)</div><div class="value" id="hit-ratio">–</div></div>
    <div class="tile"><div class="label">Requests/s (1 s)</div><div class="value" id="rps">–</div></div>
    <div class="tile"><div class="label">Stale serves/s (1 s)</div><div class="value" id="stale">–</div></div>
    <div class="tile"><div class="label">Invalidations/min</div><div class="value" id="inv">–</div></div>
    <div class="tile"><div class="label">Log lag</div><div class="value" id="lag">–</div></div>
    <div class="tile"><div class="label">L2 p99</div><div class="value" id="p99">–</div></div>
    <div class="tile"><div class="label">SSE connections</div><div class="value" id="sse">–</div></div>
    <div class="tile"><div class="label">Entries / bytes</div><div class="value" id="entries">–</div></div>
    <div class="tile"><div class="label">Total reads</div><div class="value" id="reads">–</div></div>
  </div>
  <div class="grid2">
    <section><h2>Requests/s (last minute, per second)</h2><div class="chart" id="chart-rps"><div class="y"><span class="y-max">–</span><span class="y-mid"></span><span class="y-min">0</span></div><svg viewBox="0 0 300 100" preserveAspectRatio="none"></svg><div class="x"><span class="x-start"></span><span class="x-mid"></span><span class="x-end"></span></div></div></section>
    <section><h2>Hit ratio (last minute, per second)</h2><div class="chart" id="chart-hit"><div class="y"><span class="y-max">–</span><span class="y-mid"></span><span class="y-min">0</span></div><svg viewBox="0 0 300 100" preserveAspectRatio="none"></svg><div class="x"><span class="x-start"></span><span class="x-mid"></span><span class="x-end"></span></div></div></section>
  </div>
  <section><h2>Alerts</h2><div id="alerts"><span class="none">none</span></div></section>
  <div class="grid2">
    <section><h2>Top keys</h2><table><thead><tr><th>tenant</th><th>URL / key</th><th>vary</th><th class="n">reads</th></tr></thead><tbody id="top-keys"></tbody></table></section>
    <section><h2>Top invalidated tags</h2><table><thead><tr><th>tenant</th><th>tag</th><th class="n">count</th></tr></thead><tbody id="top-tags"></tbody></table></section>
  </div>
  <div class="grid2">
    <section><h2>Tenants</h2><table><thead><tr><th>tenant</th><th class="n">hits</th><th class="n">misses</th><th class="n">stale</th><th class="n">invalidations</th><th class="n">hit ratio</th></tr></thead><tbody id="tenants"></tbody></table></section>
    <section><h2>Warming</h2><div id="warm"><span class="none">no warm runs</span></div></section>
  </div>
  <section><h2>TTL effectiveness (per policy)</h2><table><thead><tr><th>group</th><th>ttl</th><th class="n">ended</th><th class="n">expired unchanged</th><th class="n">invalidated before expiry</th><th class="n">read after expiry</th></tr></thead><tbody id="ttl"></tbody></table></section>
</main>
<script>
(function () {
  'use strict'
  var $ = function (id) { return document.getElementById(id) }
  var pct = function (x) { return x == null ? '–' : (x * 100).toFixed(1) + ' %' }
  var num = function (x, d) { return x == null ? '–' : Number(x).toFixed(d == null ? 1 : d) }
  var bytes = function (b) { if (b == null) return '–'; var u = ['B', 'KB', 'MB', 'GB'], i = 0; while (b >= 1024 && i < 3) { b /= 1024; i++ } return b.toFixed(i ? 1 : 0) + ' ' + u[i] }
  var dur = function (x) { return x >= 3600000 ? +(x / 3600000).toFixed(1) + 'h' : x >= 60000 ? +(x / 60000).toFixed(1) + 'm' : +(x / 1000).toFixed(1) + 's' }
  var ttlOf = function (g) { return g.adaptive ? 'adaptive ' + dur(g.ttlMs.min) + (g.ttlMs.max !== g.ttlMs.min ? '–' + dur(g.ttlMs.max) : '') : dur(g.policyTtlMs) }
  var ms = function (x) { return x == null ? '–' : x < 1000 ? x.toFixed(0) + ' ms' : (x / 1000).toFixed(1) + ' s' }

  function rows(tbody, list, cells) {
    var frag = document.createDocumentFragment()
    list.forEach(function (item) {
      var tr = document.createElement('tr')
      cells(item).forEach(function (c) {
        var td = document.createElement('td')
        if (typeof c === 'number') td.className = 'n'
        td.textContent = String(c)
        tr.appendChild(td)
      })
      frag.appendChild(tr)
    })
    tbody.replaceChildren(frag)
  }

  var NS = 'http://www.w3.org/2000/svg'
  /** A "nice" upper bound for an axis: 1, 2 or 5 times a power of ten. */
  function nice(x) { if (!(x > 0)) return 1; var p = Math.pow(10, Math.floor(Math.log10(x))), f = x / p; return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p }
  var clock = function (t) { return new Date(t).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false }) }

  /**
   * Draws one chart: the last minute up to the snapshot's time on the x axis, 0..max on the
   * y axis, with their labels. Points with no value and holes in the samples (more than 2.5
   * sample intervals) break the line: gaps are drawn as gaps, never as a diagonal across.
   */
  function chart(el, points, now, max, fmtY, color) {
    var svg = el.querySelector('svg')
    svg.replaceChildren()
    var t0 = now - 60000
    el.querySelector('.y-max').textContent = fmtY(max)
    el.querySelector('.y-mid').textContent = fmtY(max / 2)
    el.querySelector('.y-min').textContent = fmtY(0)
    el.querySelector('.x-start').textContent = clock(t0)
    el.querySelector('.x-mid').textContent = clock(t0 + 30000)
    el.querySelector('.x-end').textContent = clock(now)
    ;[2, 50].forEach(function (y) {
      var g = document.createElementNS(NS, 'line')
      g.setAttribute('class', 'grid'); g.setAttribute('x1', '0'); g.setAttribute('x2', '300'); g.setAttribute('y1', String(y)); g.setAttribute('y2', String(y))
      g.setAttribute('vector-effect', 'non-scaling-stroke')
      svg.appendChild(g)
    })
    var steps = []
    for (var i = 1; i < points.length; i++) steps.push(points[i].t - points[i - 1].t)
    steps.sort(function (a, b) { return a - b })
    var step = steps.length ? steps[Math.floor(steps.length / 2)] : 1000
    var segments = [], cur = [], prevT = null
    points.forEach(function (p) {
      if (p.t < t0) return
      if (p.v == null || (prevT != null && p.t - prevT > step * 2.5)) { if (cur.length) segments.push(cur); cur = [] }
      if (p.v != null) cur.push(p)
      prevT = p.t
    })
    if (cur.length) segments.push(cur)
    segments.forEach(function (seg) {
      if (seg.length === 1) seg = [seg[0], seg[0]]
      var pl = document.createElementNS(NS, 'polyline')
      pl.setAttribute('points', seg.map(function (p) { return ((p.t - t0) / 60000 * 300).toFixed(1) + ',' + (98 - Math.min(1, p.v / max) * 96).toFixed(1) }).join(' '))
      pl.setAttribute('fill', 'none')
      pl.setAttribute('stroke', color)
      pl.setAttribute('stroke-width', '2')
      pl.setAttribute('stroke-linecap', 'round')
      pl.setAttribute('vector-effect', 'non-scaling-stroke')
      svg.appendChild(pl)
    })
  }

  function render(s) {
    var m = s.monitor, c = s.cache || {}
    // The rates, charts and tables cover every instance in this process; entries/bytes this one's.
    var all = s.instances || (s.instanceId ? [s.instanceId] : [])
    $('instance').textContent = all.length > 1
      ? 'instances ' + all.join(' + ') + ' (one process: traffic of all; entries/bytes of ' + s.instanceId + ')'
      : s.instanceId ? 'instance ' + s.instanceId : ''
    if (s.instanceId) document.title = 'Larder dashboard · ' + all.join(' + ')
    $('hit-ratio').textContent = pct(m.hitRatio)
    $('rps').textContent = num(m.requestsPerSec)
    $('stale').textContent = num(m.staleServesPerSec)
    $('inv').textContent = num(m.invalidationsPerMin, 0)
    $('lag').textContent = ms(m.logLagMs)
    $('p99').textContent = ms(m.storeP99Ms)
    $('sse').textContent = String(m.sseConnections)
    $('entries').textContent = (c.entries == null ? '–' : c.entries) + ' / ' + bytes(c.bytes)
    $('reads').textContent = String(m.totals.hits + m.totals.misses)
    var series = m.series || []
    var now = m.at || Date.now()
    var maxRps = nice(Math.max.apply(null, [1].concat(series.map(function (p) { return p.rps }))))
    chart($('chart-rps'), series.map(function (p) { return { t: p.t, v: p.rps } }), now, maxRps, function (v) { return v >= 100 ? v.toFixed(0) : String(Math.round(v * 10) / 10) }, '#58a6ff')
    chart($('chart-hit'), series.map(function (p) { return { t: p.t, v: p.hitRatio } }), now, 1, function (v) { return (v * 100).toFixed(0) + ' %' }, '#3fb950')
    rows($('top-keys'), m.topKeys, function (k) { return [k.tenant, k.key, k.vary || '', k.count] })
    rows($('top-tags'), m.topTags, function (k) { return [k.tenant, k.tag, k.count] })
    rows($('tenants'), m.tenants, function (t) { return [t.tenant, t.hits, t.misses, t.stale, t.invalidations, pct(t.hitRatio)] })
    rows($('ttl'), (s.ttl && s.ttl.groups) || [], function (g) { return [g.group, ttlOf(g), g.ended, pct(g.shares.expiredUnchanged), pct(g.shares.invalidatedBeforeExpiry), pct(g.shares.readAfterExpiry)] })
    var alerts = $('alerts')
    if (!m.alerts.length) { var none = document.createElement('span'); none.className = 'none'; none.textContent = 'none'; alerts.replaceChildren(none) }
    else alerts.replaceChildren.apply(alerts, m.alerts.map(function (a) {
      var div = document.createElement('div')
      div.className = 'alert ' + (a.state === 'firing' ? 'firing' : 'pending') + ' ' + (a.severity === 'critical' ? 'critical' : 'warning')
      div.textContent = (a.state === 'firing' ? 'FIRING ' : 'pending ') + a.alert + ': ' + a.summary + ' (value ' + num(a.value, 2) + ', threshold ' + a.threshold + ')'
      return div
    }))
    var warm = $('warm'), runs = s.warm || m.warm || []
    if (runs.length) warm.replaceChildren.apply(warm, runs.map(function (r) {
      var wrap = document.createElement('div'), label = document.createElement('div'), bar = document.createElement('div'), fill = document.createElement('div')
      label.textContent = r.plan + ': ' + r.done + '/' + r.total + ' (loaded ' + r.loaded + ', cached ' + r.skipped + ', failed ' + r.failed + ')'
      bar.className = 'bar'; fill.style.width = (r.total ? (r.done / r.total * 100) : 100) + '%'
      bar.appendChild(fill); wrap.appendChild(label); wrap.appendChild(bar)
      return wrap
    }))
    document.body.dataset.updates = String(Number(document.body.dataset.updates || 0) + 1)
  }

  var controller = null, retry = 1000
  function status(text, cls) { var el = $('status'); el.textContent = text; el.className = cls || '' }

  async function connect() {
    var token = sessionStorage.getItem('larder-token') || ''
    if (controller) controller.abort()
    controller = new AbortController()
    try {
      var path = location.pathname
      if (path.charAt(path.length - 1) === '/') path = path.slice(0, -1)
      var res = await fetch(path + '/feed', { headers: token ? { authorization: 'Bearer ' + token } : {}, signal: controller.signal, cache: 'no-store' })
      if (res.status === 401 || res.status === 403) { status('token refused (' + res.status + '): enter an admin or read:stats token', 'down'); return }
      if (!res.ok || !res.body) throw new Error('HTTP ' + res.status)
      status('live', 'live'); retry = 1000
      var reader = res.body.pipeThrough(new TextDecoderStream()).getReader(), buf = ''
      for (;;) {
        var chunk = await reader.read()
        if (chunk.done) break
        buf += chunk.value
        var i
        while ((i = buf.indexOf('\\n\\n')) >= 0) {
          var frame = buf.slice(0, i); buf = buf.slice(i + 2)
          var data = frame.split('\\n').filter(function (l) { return l.indexOf('data:') === 0 }).map(function (l) { return l.slice(5).trim() }).join('\\n')
          if (data) render(JSON.parse(data))
        }
      }
      throw new Error('feed ended')
    } catch (err) {
      if (err && err.name === 'AbortError') return
      status('reconnecting… (' + (err && err.message) + ')', 'down')
      setTimeout(connect, retry + Math.random() * retry)
      retry = Math.min(retry * 2, 15000)
    }
  }

  var m = /(?:^|&)token=([^&]+)/.exec(location.hash.slice(1))
  if (m) { sessionStorage.setItem('larder-token', decodeURIComponent(m[1])); history.replaceState(null, '', location.pathname + location.search) }
  $('auth').addEventListener('submit', function (e) { e.preventDefault(); sessionStorage.setItem('larder-token', $('token').value); connect() })
  connect()
})()
</script>
</body>
</html>
`
