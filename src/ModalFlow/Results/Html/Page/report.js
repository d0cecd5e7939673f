// ModalFlow report page: reads the JSON in #report-data and draws the overview, one section per task, the table of
// samples and a page per sample. Plain DOM + inline SVG, no libraries, no network: the file opens from file://.
(function () {
  'use strict';

  const D = JSON.parse(document.getElementById('report-data').textContent);
  const SVGNS = 'http://www.w3.org/2000/svg';
  const MAX_TABLE_ROWS = 2000;
  const MAX_SAMPLE_LINES = 400;

  // ---------- DOM helpers ----------

  function setAttrs(node, attrs) {
    if (!attrs) return node;
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'text') node.textContent = v;
      else if (k === 'class') node.setAttribute('class', v);
      else if (k.startsWith('on') && typeof v === 'function') node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? '' : String(v));
    }
    return node;
  }

  function addKids(node, kids) {
    for (const kid of kids.flat(Infinity)) {
      if (kid === undefined || kid === null || kid === false) continue;
      node.appendChild(typeof kid === 'string' || typeof kid === 'number' ? document.createTextNode(String(kid)) : kid);
    }
    return node;
  }

  function h(tag, attrs, ...kids) { return addKids(setAttrs(document.createElement(tag), attrs), kids); }
  function s(tag, attrs, ...kids) { return addKids(setAttrs(document.createElementNS(SVGNS, tag), attrs), kids); }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }

  const slug = (t) => String(t).replace(/[^A-Za-z0-9_-]+/g, '-');
  const isNum = (v) => typeof v === 'number' && isFinite(v);
  const r2 = (v) => Math.round(v * 100) / 100;

  function fmtPct(v) {
    if (!isNum(v)) return '–';
    const a = Math.abs(v);
    const t = a >= 100 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : v.toFixed(2);
    return (v < 0 ? '−' + t.slice(1) : t) + ' %';
  }
  function fmtP(v) { return isNum(v) ? (v >= 0.001 ? v.toFixed(3) : v.toExponential(1)) : '–'; }
  function fmtProb(v) { return isNum(v) ? (v * 100).toFixed(1) + ' %' : '–'; }

  // ---------- tooltip ----------

  const tip = document.getElementById('tooltip');
  function showTip(evt, content) {
    clear(tip);
    addKids(tip, [content]);
    tip.hidden = false;
    const pad = 14;
    const w = tip.offsetWidth, hgt = tip.offsetHeight;
    let x = evt.clientX + pad, y = evt.clientY + pad;
    if (x + w > window.innerWidth - 4) x = evt.clientX - w - pad;
    if (y + hgt > window.innerHeight - 4) y = evt.clientY - hgt - pad;
    tip.style.left = Math.max(4, x) + 'px';
    tip.style.top = Math.max(4, y) + 'px';
  }
  function hideTip() { tip.hidden = true; }
  function swatch(color) { return h('span', { class: 'sw', style: 'background:' + color }); }

  // ---------- charts ----------

  function niceTicks(min, max, count) {
    if (!(max > min)) { max = min + 1; }
    const raw = (max - min) / Math.max(1, count);
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((st) => st >= raw) || 10 * mag;
    const ticks = [];
    for (let v = Math.ceil(min / step) * step; v <= max + step * 1e-9; v += step) ticks.push(Math.abs(v) < step * 1e-9 ? 0 : v);
    return ticks;
  }

  // One line chart. series: [{label, color, dash, layers, mean, lo, hi, n, faint}]; lines: per-sample curves
  // [{label, color, values, onClick}]; yFloor/yCeil clip bands; percent: values are fractions shown as %.
  function lineChart(opts) {
    const W = 560, H = opts.height || 290, M = { l: 56, r: 14, t: 12, b: 40 };
    const pw = W - M.l - M.r, ph = H - M.t - M.b;
    const series = opts.series.filter((se) => se.layers.length > 0);
    const lines = opts.lines || [];
    const scale = opts.percent ? 100 : 1;
    let xMax = 1;
    for (const se of series) xMax = Math.max(xMax, ...se.layers);
    for (const li of lines) xMax = Math.max(xMax, li.values.length - 1);
    const clip = (v) => Math.min(opts.yCeil === undefined ? Infinity : opts.yCeil, Math.max(opts.yFloor === undefined ? -Infinity : opts.yFloor, v));
    const ys = [];
    for (const se of series) {
      se.mean.forEach((v) => isNum(v) && ys.push(v * scale));
      if (se.lo) se.lo.forEach((v) => isNum(v) && ys.push(clip(v * scale)));
      if (se.hi) se.hi.forEach((v) => isNum(v) && ys.push(clip(v * scale)));
    }
    for (const li of lines) li.values.forEach((v) => isNum(v) && ys.push(clip(v * scale)));
    if (opts.zero) ys.push(0);
    let yMin = ys.length ? Math.min(...ys) : 0, yMax = ys.length ? Math.max(...ys) : 1;
    if (opts.yFixed) { yMin = opts.yFixed[0]; yMax = opts.yFixed[1]; }
    if (yMax - yMin < 1e-9) { yMin -= 1; yMax += 1; }
    const padY = (yMax - yMin) * 0.06;
    if (!opts.yFixed) { yMin -= padY; yMax += padY; }
    const X = (l) => M.l + (xMax === 0 ? pw / 2 : (l / xMax) * pw);
    const Y = (v) => M.t + ph - ((v - yMin) / (yMax - yMin)) * ph;

    const svg = s('svg', { class: 'chart', viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': opts.aria || 'line chart' });
    const grid = s('g', { class: 'grid' });
    const yt = niceTicks(yMin, yMax, 6);
    const tickStep = yt.length > 1 ? yt[1] - yt[0] : 1;
    const decimals = tickStep >= 1 ? 0 : Math.min(4, Math.ceil(-Math.log10(tickStep) - 1e-9));
    for (const v of yt) {
      grid.appendChild(s('line', { x1: M.l, x2: M.l + pw, y1: r2(Y(v)), y2: r2(Y(v)) }));
      svg.appendChild(s('text', { x: M.l - 6, y: r2(Y(v)) + 4, 'text-anchor': 'end', text: v.toFixed(decimals) }));
    }
    const xStep = Math.max(1, Math.ceil((xMax + 1) / 12));
    for (let l = 0; l <= xMax; l += xStep) {
      grid.appendChild(s('line', { x1: r2(X(l)), x2: r2(X(l)), y1: M.t, y2: M.t + ph }));
      svg.appendChild(s('text', { x: r2(X(l)), y: M.t + ph + 15, 'text-anchor': 'middle', text: String(l) }));
    }
    svg.insertBefore(grid, svg.firstChild);
    if (opts.zero && yMin < 0 && yMax > 0) svg.appendChild(s('line', { class: 'zero', x1: M.l, x2: M.l + pw, y1: r2(Y(0)), y2: r2(Y(0)) }));
    svg.appendChild(s('text', { class: 'axis-title', x: M.l + pw / 2, y: H - 4, 'text-anchor': 'middle', text: opts.xLabel || 'layer' }));
    svg.appendChild(s('text', { class: 'axis-title', x: 12, y: M.t + ph / 2, 'text-anchor': 'middle', transform: `rotate(-90 12 ${M.t + ph / 2})`, text: opts.yLabel || '' }));

    // Bands (95% intervals).
    for (const se of series) {
      if (!se.lo || !se.hi || se.faint) continue;
      const top = [], bottom = [];
      se.layers.forEach((l, i) => {
        if (isNum(se.lo[i]) && isNum(se.hi[i])) {
          top.push(`${r2(X(l))},${r2(Y(clip(se.hi[i] * scale)))}`);
          bottom.unshift(`${r2(X(l))},${r2(Y(clip(se.lo[i] * scale)))}`);
        }
      });
      if (top.length > 1) svg.appendChild(s('polygon', { class: 'band', points: top.concat(bottom).join(' '), fill: se.color, 'fill-opacity': 0.16 }));
    }

    // Hover layer for the means (under the sample lines, so those stay clickable).
    const guide = s('line', { class: 'guide', x1: 0, x2: 0, y1: M.t, y2: M.t + ph, visibility: 'hidden' });
    const hit = s('rect', { class: 'hit', x: M.l, y: M.t, width: pw, height: ph });
    svg.appendChild(guide);
    svg.appendChild(hit);
    const pointFor = (evt) => {
      const box = svg.getBoundingClientRect();
      const vx = ((evt.clientX - box.left) / box.width) * W;
      return Math.max(0, Math.min(xMax, Math.round(((vx - M.l) / pw) * xMax)));
    };
    hit.addEventListener('mousemove', (evt) => {
      const l = pointFor(evt);
      guide.setAttribute('x1', r2(X(l)));
      guide.setAttribute('x2', r2(X(l)));
      guide.setAttribute('visibility', 'visible');
      const rows = [h('div', { text: `layer ${l}` + (opts.windowNote ? ` (${opts.windowNote(l)})` : '') })];
      for (const se of series) {
        const i = se.layers.indexOf(l);
        if (i < 0 || !isNum(se.mean[i])) continue;
        const val = opts.percent ? fmtProb(se.mean[i]) : fmtPct(se.mean[i]);
        const ci = se.lo && isNum(se.lo[i]) ? ` [${opts.percent ? fmtProb(se.lo[i]) : fmtPct(se.lo[i])}, ${opts.percent ? fmtProb(se.hi[i]) : fmtPct(se.hi[i])}]` : '';
        const n = se.n ? ` n=${se.n[i]}` : '';
        rows.push(h('div', null, swatch(se.color), `${se.label}: ${val}${ci}${n}`));
      }
      showTip(evt, rows);
    });
    hit.addEventListener('mouseleave', () => { guide.setAttribute('visibility', 'hidden'); hideTip(); });

    // Per-sample lines.
    const path = (layers, values) => {
      let d = '', pen = false;
      layers.forEach((l, i) => {
        const v = values[i];
        if (!isNum(v)) { pen = false; return; }
        d += (pen ? 'L' : 'M') + r2(X(l)) + ',' + r2(Y(clip(v * scale)));
        pen = true;
      });
      return d;
    };
    for (const li of lines) {
      const layers = li.values.map((_, i) => i);
      const p = s('path', { class: 'sample-line', d: path(layers, li.values), stroke: li.color });
      p.addEventListener('mousemove', (evt) => {
        const l = pointFor(evt);
        showTip(evt, [h('div', { text: li.label }), h('div', { text: `layer ${l}: ${opts.percent ? fmtProb(li.values[l]) : fmtPct(li.values[l])}` }), li.onClick ? h('div', { class: 'small', text: 'click to open the sample' }) : null]);
      });
      p.addEventListener('mouseleave', hideTip);
      if (li.onClick) p.addEventListener('click', () => { hideTip(); li.onClick(); });
      svg.appendChild(p);
    }

    // Means, markers on top.
    for (const se of series) {
      svg.appendChild(s('path', {
        class: 'mean', d: path(se.layers, se.mean), stroke: se.color, 'stroke-dasharray': se.dash || null,
        'stroke-width': se.faint ? 1.6 : null, 'stroke-opacity': se.faint ? 0.75 : null,
      }));
      if (!se.faint && se.layers.length <= 48) {
        se.layers.forEach((l, i) => {
          if (isNum(se.mean[i])) svg.appendChild(s('circle', { cx: r2(X(l)), cy: r2(Y(se.mean[i] * scale)), r: 2.6, fill: se.color, 'pointer-events': 'none' }));
        });
      }
    }
    svg.appendChild(s('rect', { class: 'frame', x: M.l, y: M.t, width: pw, height: ph }));

    const legend = h('div', { class: 'legend' }, series.filter((se) => !se.hideInLegend).map((se) => h('span', null,
      s('svg', { viewBox: '0 0 26 10' }, s('line', { x1: 1, x2: 25, y1: 5, y2: 5, stroke: se.color, 'stroke-width': se.faint ? 1.6 : 2.4, 'stroke-dasharray': se.dash || null })),
      se.label)));
    return h('div', { class: 'chart-box' }, svg, legend);
  }

  // ---------- data access ----------

  const experiments = D.experiments.filter((e) => e.kind === 'knockout');
  const lensExp = D.experiments.find((e) => e.kind === 'lens');
  const styleOf = (key) => D.styles[key] || { label: key, color: '#555', dash: '' };

  function meanSeries(task, exp, cond, opts) {
    const [name, subword] = exp.key.split('|');
    const a = D.aggregates[`${task}|${name}|${subword}|${cond}`];
    if (!a) return null;
    const st = styleOf(cond);
    return Object.assign({ label: st.label, color: st.color, dash: st.dash, layers: a.layers, mean: a.mean, lo: a.lo, hi: a.hi, n: a.n }, opts || {});
  }

  function lensSeries(task, kind, variant, opts) {
    const a = D.lens[`${task}|${kind}`];
    if (!a) return null;
    const v = a[variant];
    const st = styleOf(kind);
    return Object.assign({ label: st.label, color: st.color, dash: st.dash, layers: v.layers, mean: v.mean, lo: v.lo, hi: v.hi, n: v.n }, opts || {});
  }

  const curveKey = (exp, cond) => `${exp.key}|${cond}`;
  const openSample = (i) => { location.hash = '#sample/' + i; };

  // ---------- overview ----------

  function renderOverview() {
    const root = document.getElementById('overview');
    const used = D.samples.filter((x) => x.status === 'used').length;
    const excluded = D.samples.length - used;
    root.appendChild(h('h2', null, 'Overview ', h('span', { class: 'muted', text: `· ${D.samples.length} samples, ${used} used, ${excluded} excluded · generated ${D.generated}` })));
    if (D.notes.length) root.appendChild(h('ul', { class: 'notes' }, D.notes.map((n) => h('li', { text: n }))));

    const settings = h('table', { class: 'kv' }, h('tbody', null, D.settings.map((kv) => h('tr', null, h('th', { text: kv.key }), h('td', { text: kv.value })))));
    const left = h('div', null, h('h3', { text: 'Settings' }), settings,
      h('p', { class: 'small muted', text: `Bands: 95% interval of the mean (${D.ciMethod}).` }));

    // Counts per task: used, excluded by reason.
    const reasons = [...new Set(D.samples.filter((x) => x.status === 'excluded').map((x) => x.reason || 'excluded'))].sort();
    const rows = D.tasks.map((t) => {
      const mine = D.samples.filter((x) => x.task === t);
      return [t, mine.length, mine.filter((x) => x.status === 'used').length, ...reasons.map((r) => mine.filter((x) => x.status === 'excluded' && (x.reason || 'excluded') === r).length)];
    });
    if (D.tasks.length > 1) rows.push(['all tasks', ...rows[0].slice(1).map((_, i) => rows.reduce((acc, row) => acc + row[i + 1], 0))]);
    const counts = h('table', { class: 'data counts' },
      h('thead', null, h('tr', null, h('th', { text: 'task' }), h('th', { class: 'num', text: 'samples' }), h('th', { class: 'num', text: 'used' }),
        reasons.map((r) => h('th', { class: 'num', text: 'excluded: ' + r })))),
      h('tbody', null, rows.map((row) => h('tr', { class: 'static' }, row.map((c, i) => h('td', { class: i ? 'num' : null, text: String(c) }))))));
    const extra = [];
    if (D.malformed) extra.push(`${D.malformed} malformed input record(s) skipped.`);
    if (D.nonFinite) extra.push(`${D.nonFinite} knockout value(s) were NaN or infinite and are left out of the means.`);
    const right = h('div', null, h('h3', { text: 'Samples' }), counts, extra.map((t) => h('p', { class: 'small', text: t })));
    root.appendChild(h('div', { class: 'grid2' }, left, right));

    if (D.runColumns.length && D.runs.length > 1) {
      const runTable = h('table', { class: 'data' },
        h('thead', null, h('tr', null, h('th', { text: 'run folder' }), D.runColumns.map((c) => h('th', { text: c })), h('th', { class: 'num', text: 'used' }), h('th', { class: 'num', text: 'excluded' }))),
        h('tbody', null, D.runs.map((r) => h('tr', { class: 'static' }, h('td', { class: 'mono', text: r.dir }), r.values.map((v) => h('td', { text: v })),
          h('td', { class: 'num', text: String(r.used) }), h('td', { class: 'num', text: String(r.excluded) })))));
      root.appendChild(h('details', null, h('summary', { text: `${D.runs.length} run stores (settings that differ between them)` }), h('div', { class: 'table-scroll' }, runTable)));
    }

    for (const check of D.checks) {
      root.appendChild(h('div', { class: 'check-table' }, h('h3', { text: check.title }), check.note ? h('p', { class: 'small muted', text: check.note }) : null,
        h('div', { class: 'table-scroll' }, h('table', { class: 'data' },
          h('thead', null, h('tr', null, check.columns.map((c) => h('th', { text: c })))),
          h('tbody', null, check.rows.map((row) => h('tr', { class: 'static' }, row.map((c) => h('td', { text: c })))))))));
    }

    if (D.figures.length) {
      root.appendChild(h('h3', { text: 'Figures (as in report.md)' }));
      root.appendChild(h('div', { class: 'figures' }, D.figures.map((f) => {
        const fig = h('figure', null, h('img', { src: f.src, alt: f.caption }), h('figcaption', { text: f.caption }));
        fig.querySelector('img').addEventListener('click', () => fig.classList.toggle('big'));
        return fig;
      })));
    }
  }

  // ---------- one section per task ----------

  function taskSampleLines(task, exp, cond) {
    const st = styleOf(cond);
    const out = [];
    D.samples.forEach((x, i) => {
      if (x.task !== task || !x.curves) return;
      const values = x.curves[curveKey(exp, cond)];
      if (values && out.length < MAX_SAMPLE_LINES) out.push({ label: `${x.task} ${x.qid} · ${st.label}: “${x.question}” → ${x.predicted}`, color: st.color, values, onClick: () => openSample(i) });
    });
    return out;
  }

  function knockoutCard(task, exp) {
    const box = h('div');
    const toggle = h('input', { type: 'checkbox' });
    const n = D.samples.filter((x) => x.task === task && x.curves && exp.series.some((c) => x.curves[curveKey(exp, c)])).length;
    const draw = () => {
      clear(box);
      const series = exp.series.map((c) => meanSeries(task, exp, c)).filter(Boolean);
      const lines = toggle.checked ? exp.series.flatMap((c) => taskSampleLines(task, exp, c)) : [];
      box.appendChild(lineChart({ series, lines, zero: true, yFloor: -100, yLabel: '% change in p(answer)', aria: `${exp.title}, ${task}` }));
    };
    toggle.addEventListener('change', draw);
    draw();
    return h('div', { class: 'chart-card', 'data-experiment': exp.key },
      h('h3', { text: exp.title }),
      h('p', { class: 'sub', text: `window ${exp.window}, ${exp.layers} layers · ${n} samples · mean with 95% band` }),
      box,
      h('div', { class: 'controls' }, h('label', null, toggle, `show the ${n} samples' curves`)));
  }

  function lensCard(task) {
    const box = h('div');
    const toggle = h('input', { type: 'checkbox' });
    const norm = h('input', { type: 'checkbox' });
    const draw = () => {
      clear(box);
      const variant = norm.checked ? 'norm' : 'raw';
      const series = lensExp.series.map((k) => lensSeries(task, k, variant)).filter(Boolean);
      const lines = [];
      if (toggle.checked) {
        D.samples.forEach((x, i) => {
          if (x.task !== task || !x.lens) return;
          for (const k of lensExp.series) {
            const v = x.lens[`${k}|${variant}`];
            if (v && lines.length < MAX_SAMPLE_LINES) lines.push({ label: `${x.task} ${x.qid} · ${styleOf(k).label}`, color: styleOf(k).color, values: v, onClick: () => openSample(i) });
          }
        });
      }
      box.appendChild(lineChart({ series, lines, percent: true, yFixed: [0, 100], yFloor: 0, yCeil: 100, yLabel: 'probability (%)', xLabel: 'layer (0 = embeddings)', aria: `logit lens, ${task}` }));
    };
    toggle.addEventListener('change', draw);
    norm.addEventListener('change', draw);
    draw();
    return h('div', { class: 'chart-card', 'data-experiment': 'lens' },
      h('h3', { text: lensExp.title }),
      h('p', { class: 'sub', text: 'probability of the answer word at the last position after each layer · mean with 95% band' }),
      box,
      h('div', { class: 'controls' }, h('label', null, toggle, "show every sample's curves"), h('label', null, norm, 'with the final norm (standard lens)')));
  }

  function renderTasks() {
    const root = document.getElementById('tasks');
    for (const task of D.tasks) {
      const mine = D.samples.filter((x) => x.task === task);
      const used = mine.filter((x) => x.status === 'used').length;
      const cards = experiments.filter((e) => e.series.some((c) => D.aggregates[`${task}|${e.key.split('|')[0]}|${e.key.split('|')[1]}|${c}`])).map((e) => knockoutCard(task, e));
      if (lensExp && lensExp.series.some((k) => D.lens[`${task}|${k}`])) cards.push(lensCard(task));
      const link = h('a', { href: '#samples', text: `the ${mine.length} samples of ${task} →` });
      link.addEventListener('click', () => { state.task = task; syncFilters(); renderTable(); });
      root.appendChild(h('section', { class: 'panel task', id: 'task-' + slug(task), 'data-task': task },
        h('h2', null, task, ' ', h('span', { class: 'muted', text: `· ${used} used of ${mine.length}` })),
        cards.length ? h('div', { class: 'charts' }, cards) : h('p', { class: 'muted', text: 'No curves: every sample of this task was excluded.' }),
        h('p', { class: 'small' }, link)));
    }
  }

  // ---------- table of samples ----------

  const state = { task: '', correct: '', status: '', text: '', sort: 'index', dir: 1 };
  const columns = [
    { key: 'index', label: '#', num: true, get: (x, i) => i },
    { key: 'task', label: 'task', get: (x) => x.task },
    { key: 'qid', label: 'question id', get: (x) => x.qid },
    { key: 'question', label: 'question', get: (x) => x.question },
    { key: 'answer', label: 'gold', get: (x) => x.answer },
    { key: 'predicted', label: 'clean answer', get: (x) => x.predicted },
    { key: 'correct', label: 'correct', get: (x) => (x.correct === true ? 1 : x.correct === false ? 0 : -1) },
    { key: 'status', label: 'status', get: (x) => (x.status === 'used' ? 'used' : 'excluded: ' + x.reason) },
    { key: 'p1', label: 'p1', num: true, get: (x) => (isNum(x.p1) ? x.p1 : -1) },
  ];
  let tableBody, countLine, taskChips, correctSelect, statusSelect, searchInput, headRow;

  function filtered() {
    const text = state.text.trim().toLowerCase();
    const list = [];
    D.samples.forEach((x, i) => {
      if (state.task && x.task !== state.task) return;
      if (state.correct === 'correct' && x.correct !== true) return;
      if (state.correct === 'incorrect' && x.correct !== false) return;
      if (state.correct === 'unknown' && (x.correct === true || x.correct === false)) return;
      if (state.status === 'used' && x.status !== 'used') return;
      if (state.status === 'excluded' && x.status !== 'excluded') return;
      if (state.status.startsWith('reason:') && !(x.status === 'excluded' && x.reason === state.status.slice(7))) return;
      if (text && !(`${x.qid} ${x.question} ${x.answer} ${x.predicted}`.toLowerCase().includes(text))) return;
      list.push(i);
    });
    const col = columns.find((c) => c.key === state.sort) || columns[0];
    list.sort((a, b) => {
      const va = col.get(D.samples[a], a), vb = col.get(D.samples[b], b);
      const c = typeof va === 'number' && typeof vb === 'number' ? va - vb : String(va).localeCompare(String(vb), undefined, { numeric: true });
      return (c || a - b) * state.dir;
    });
    return list;
  }

  function correctBadge(x) {
    return x.correct === true ? h('span', { class: 'badge ok', text: '✓ correct' })
      : x.correct === false ? h('span', { class: 'badge bad', text: '✗ incorrect' })
        : h('span', { class: 'badge unknown', text: 'unknown' });
  }
  function statusBadge(x) {
    if (x.status === 'used' && x.note) return h('span', { class: 'badge noted', text: 'used: ' + x.note.split(':')[0], title: x.note });
    return x.status === 'used' ? h('span', { class: 'badge ok', text: 'used' }) : h('span', { class: 'badge excluded', text: 'excluded: ' + (x.reason || '?'), title: x.detail || '' });
  }

  function renderTable() {
    const list = filtered();
    clear(tableBody);
    for (const i of list.slice(0, MAX_TABLE_ROWS)) {
      const x = D.samples[i];
      const tr = h('tr', { 'data-index': i, 'data-task': x.task },
        h('td', { class: 'num', text: String(i) }),
        h('td', { text: x.task }),
        h('td', null, h('a', { href: '#sample/' + i, class: 'mono', text: x.qid })),
        h('td', { text: x.question }),
        h('td', { text: x.answer }),
        h('td', { text: x.predicted }),
        h('td', null, correctBadge(x)),
        h('td', null, statusBadge(x)),
        h('td', { class: 'num', text: fmtP(x.p1) }));
      tr.addEventListener('click', (evt) => { if (evt.target.tagName !== 'A') openSample(i); });
      tableBody.appendChild(tr);
    }
    countLine.textContent = `Showing ${list.length} of ${D.samples.length} samples` + (list.length > MAX_TABLE_ROWS ? ` (first ${MAX_TABLE_ROWS} listed; filter to see the rest)` : '');
    for (const th of headRow.children) {
      const arrow = th.querySelector('.arrow');
      arrow.textContent = th.dataset.key === state.sort ? (state.dir > 0 ? '▲' : '▼') : '';
    }
  }

  function syncFilters() {
    for (const chip of taskChips.children) chip.classList.toggle('on', chip.dataset.task === state.task);
    correctSelect.value = state.correct;
    statusSelect.value = state.status;
  }

  function renderSamplesSection() {
    const root = document.getElementById('samples');
    root.appendChild(h('h2', null, 'Samples ', h('span', { class: 'muted', text: '· click a row for the sample; click a header to sort' })));
    taskChips = h('div', { class: 'chips', id: 'task-filter', role: 'group', 'aria-label': 'task' },
      [''].concat(D.tasks).map((t) => {
        const chip = h('button', { type: 'button', class: 'chip', 'data-task': t, text: t || 'all tasks' });
        chip.addEventListener('click', () => { state.task = t; syncFilters(); renderTable(); });
        return chip;
      }));
    correctSelect = h('select', { id: 'filter-correct' },
      [['', 'any'], ['correct', 'correct'], ['incorrect', 'incorrect'], ['unknown', 'not known']].map(([v, t]) => h('option', { value: v, text: t })));
    const reasons = [...new Set(D.samples.filter((x) => x.status === 'excluded').map((x) => x.reason))].sort();
    statusSelect = h('select', { id: 'filter-status' },
      [['', 'any'], ['used', 'used'], ['excluded', 'excluded (any reason)']].concat(reasons.map((r) => ['reason:' + r, 'excluded: ' + r])).map(([v, t]) => h('option', { value: v, text: t })));
    searchInput = h('input', { type: 'search', id: 'filter-text', placeholder: 'question id or words' });
    correctSelect.addEventListener('change', () => { state.correct = correctSelect.value; renderTable(); });
    statusSelect.addEventListener('change', () => { state.status = statusSelect.value; renderTable(); });
    searchInput.addEventListener('input', () => { state.text = searchInput.value; renderTable(); });
    root.appendChild(h('div', { class: 'filters' },
      h('label', null, 'task', taskChips),
      h('label', null, 'clean answer', correctSelect),
      h('label', null, 'status / exclusion reason', statusSelect),
      h('label', null, 'search', searchInput)));
    countLine = h('p', { class: 'count-line', id: 'sample-count' });
    headRow = h('tr', null, columns.map((c) => {
      const th = h('th', { class: 'sortable' + (c.num ? ' num' : ''), 'data-key': c.key }, c.label, h('span', { class: 'arrow' }));
      th.addEventListener('click', () => {
        if (state.sort === c.key) state.dir = -state.dir; else { state.sort = c.key; state.dir = 1; }
        renderTable();
      });
      return th;
    }));
    tableBody = h('tbody', { id: 'sample-rows' });
    root.appendChild(countLine);
    root.appendChild(h('div', { class: 'table-scroll' }, h('table', { class: 'data', id: 'sample-table' }, h('thead', null, headRow), tableBody)));
    syncFilters();
    renderTable();
  }

  // ---------- one sample ----------

  function overlayFor(view, cropIndex, related, random) {
    const crop = view.crops[cropIndex];
    const geom = D.geometries[view.geometry];
    const svg = s('svg', { class: 'overlay', viewBox: `0 0 ${crop.w} ${crop.h}`, preserveAspectRatio: 'none', 'data-crop': cropIndex });
    for (let k = 0; k < view.imageTokens; k++) {
      const o = k * 5;
      if (geom[o] !== cropIndex) continue;
      const set = related.has(k) ? 'related' : 'other';
      const cls = 'cell ' + set + (random.has(k) ? ' random' : '');
      svg.appendChild(s('rect', { class: cls, x: geom[o + 1], y: geom[o + 2], width: geom[o + 3], height: geom[o + 4], 'data-k': k }));
    }
    svg.addEventListener('mousemove', (evt) => {
      const k = evt.target.getAttribute && evt.target.getAttribute('data-k');
      if (k === null || k === undefined) { hideTip(); return; }
      const kk = +k;
      const sets = [related.has(kk) ? 'related' : 'other'].concat(random.has(kk) ? ['random'] : []).join(', ');
      const o = kk * 5;
      showTip(evt, [h('div', { text: `image token ${kk} · sequence position ${view.imageStart + kk}` }),
        h('div', { text: `${geom[o + 3]}×${geom[o + 4]} px at (${geom[o + 1]}, ${geom[o + 2]}) · ${sets}` })]);
    });
    svg.addEventListener('mouseleave', hideTip);
    return svg;
  }

  function viewPanel(x) {
    const v = x.view;
    if (!v) return h('div', null, h('h3', { text: 'What the model saw' }), h('p', { class: 'muted', text: x.viewProblem || 'not available' }));
    const related = new Set(v.related || []);
    const random = new Set(v.random || []);
    const biggest = Math.max(...v.crops.map((c) => Math.max(c.w, c.h)));
    const target = v.crops.length > 1 ? 420 : 380;
    const overlays = [];
    const sc = target / biggest;
    const figs = v.crops.map((c, ci) => {
      const wpx = Math.round(c.w * sc), hpx = Math.round(c.h * sc);
      const ov = overlayFor(v, ci, related, random);
      overlays.push(ov);
      return h('figure', { class: 'crop' },
        h('div', { class: 'stage', style: `width:${wpx}px;height:${hpx}px` }, h('img', { src: c.src, alt: c.name, width: wpx, height: hpx, class: sc >= 2 ? 'pixelated' : null }), ov),
        h('figcaption', { text: `${c.name} · ${c.w}×${c.h} px as the model saw it` }));
    });
    const nOther = v.imageTokens - related.size - D.geometries[v.geometry].filter((_, i) => i % 5 === 0).filter((c) => c < 0).length;
    const toggles = [
      ['grid', 'token grid', true, `${v.imageTokens} image tokens`],
      ['related', 'related patches', true, `${related.size}`],
      ['random', 'random patches (control)', true, `${random.size}`],
      ['other', 'other patches', false, `${nOther}`],
    ].map(([key, label, on, count]) => {
      const box = h('input', { type: 'checkbox', 'data-set': key });
      box.checked = on;
      const apply = () => overlays.forEach((ov) => {
        if (key === 'other') ov.classList.toggle('show-other', box.checked);
        else ov.classList.toggle('hide-' + key, !box.checked);
      });
      box.addEventListener('change', apply);
      apply();
      return h('label', null, box, h('span', { class: 'sw ' + key }), `${label} (${count})`);
    });
    return h('div', null,
      h('h3', { text: 'What the model saw' }),
      h('div', { class: 'crops' }, figs),
      h('div', { class: 'set-legend' }, toggles),
      v.patchProblem ? h('p', { class: 'small muted', text: 'Patch sets: ' + v.patchProblem }) : h('p', { class: 'small muted', text: 'Related: patches holding an exactly red pixel of the box mask after the model\'s own preprocessing (the paper\'s rule); random: as many other patches, seeded by the question id (the run\'s control).' }));
  }

  // One letter per prompt token (HtmlPageData.cs, PromptSet) → CSS class and legend text.
  const SET_NAMES = { s: ['system', 'system'], i: ['image', 'image'], q: ['question', 'question'], t: ['true', 'true option'], f: ['false', 'false option'], n: ['instruction', 'instruction'], m: ['template', 'template'], l: ['last', 'last position'] };

  function promptPanel(x) {
    const v = x.view;
    if (!v) return null;
    const order = ['i', 'q', 't', 'f', 'n', 'l', 'm', 's'];
    const legend = order.filter((c) => v.promptSets.includes(c)).map((c) => h('span', { class: 'tok ' + SET_NAMES[c][0], text: SET_NAMES[c][1] }));
    let pos = 0;
    const chips = v.promptText.map((text, j) => {
      const code = v.promptSets[j];
      const [cls, name] = SET_NAMES[code] || ['template', 'template'];
      const span = code === 'i' ? `positions ${pos}–${pos + v.imageTokens - 1}` : `position ${pos}`;
      const chip = h('span', { class: 'tok ' + cls, title: `${span} · ${name}`, 'data-pos': pos });
      pos += code === 'i' ? v.imageTokens : 1;
      if (code === 'i') { chip.textContent = text; return chip; }
      for (const part of text.split(/( +|\n)/)) {
        if (part === '') continue;
        if (part === '\n') chip.appendChild(h('span', { class: 'ws', text: '↵' }));
        else if (/^ +$/.test(part)) chip.appendChild(h('span', { class: 'ws', text: '·'.repeat(part.length) }));
        else chip.appendChild(document.createTextNode(part));
      }
      return chip;
    });
    return h('div', null, h('h3', null, 'The prompt ', h('span', { class: 'muted small', text: `· ${v.seqLen} positions, ${v.imageTokens} of them image tokens from position ${v.imageStart}; hover a token for its position` })),
      h('div', { class: 'tok-legend' }, legend), h('div', { class: 'prompt' }, chips));
  }

  function sampleCharts(x) {
    const cards = [];
    for (const exp of experiments) {
      const conds = exp.series.filter((c) => x.curves && x.curves[curveKey(exp, c)]);
      if (!conds.length) continue;
      const series = [];
      for (const c of conds) {
        const st = styleOf(c);
        const values = x.curves[curveKey(exp, c)];
        series.push({ label: st.label + ' (this sample)', color: st.color, dash: '', layers: values.map((_, i) => i), mean: values });
        const m = meanSeries(x.task, exp, c, { faint: true, dash: '5 4', hideInLegend: false });
        if (m) { m.label = st.label + ` (mean of ${x.task})`; series.push(m); }
      }
      cards.push(h('div', { class: 'chart-card' }, h('h3', { text: exp.title }),
        h('p', { class: 'sub', text: 'solid: this sample; dashed: the task mean (its band omitted)' }),
        lineChart({ series, zero: true, yFloor: -100, yLabel: '% change in p(answer)', aria: exp.title })));
    }
    if (lensExp && x.lens) {
      const series = [];
      for (const k of lensExp.series) {
        const v = x.lens[`${k}|raw`];
        if (!v) continue;
        const st = styleOf(k);
        series.push({ label: st.label, color: st.color, dash: '', layers: v.map((_, i) => i), mean: v });
        const m = lensSeries(x.task, k, 'raw', { faint: true, dash: '5 4' });
        if (m) { m.label = st.label + ` (mean of ${x.task})`; series.push(m); }
      }
      if (series.length) {
        cards.push(h('div', { class: 'chart-card' }, h('h3', { text: lensExp.title }),
          h('p', { class: 'sub', text: 'the paper\'s lens (no final norm); dashed: the task mean' }),
          lineChart({ series, percent: true, yFixed: [0, 100], yFloor: 0, yCeil: 100, yLabel: 'probability (%)', xLabel: 'layer (0 = embeddings)', aria: 'logit lens' })));
      }
    }
    return cards.length ? h('div', null, h('h3', { text: 'This sample\'s curves' }), h('div', { class: 'charts' }, cards))
      : h('p', { class: 'muted', text: 'No curves: the sample was excluded before any knockout or lens ran.' });
  }

  function renderSample(i) {
    const x = D.samples[i];
    const root = clear(document.getElementById('sample-view'));
    const prev = h('a', { class: 'btn', href: '#sample/' + (i - 1), text: '← previous', 'aria-disabled': i === 0 ? 'true' : null });
    const next = h('a', { class: 'btn', href: '#sample/' + (i + 1), text: 'next →', 'aria-disabled': i === D.samples.length - 1 ? 'true' : null });
    const facts = h('dl', { class: 'facts' },
      h('dt', { text: 'gold answer' }), h('dd', { text: x.answer || '–' }),
      h('dt', { text: 'clean answer' }), h('dd', null, (x.predicted || '–') + ' ', correctBadge(x)),
      h('dt', { text: 'p1' }), h('dd', { text: isNum(x.p1) ? `${fmtP(x.p1)} (clean probability of the answer's first token)` : 'not stored (lens-only run)' }),
      h('dt', { text: 'status' }), h('dd', null, statusBadge(x), x.detail ? ' ' + x.detail : x.note ? ' ' + x.note : ''),
      h('dt', { text: 'image' }), h('dd', { class: 'mono', text: x.image + (x.view ? ` · ${x.view.width}×${x.view.height} px · ${x.view.preprocessing}` : '') }));
    root.appendChild(h('div', { class: 'panel' },
      h('div', { class: 'sample-head' },
        h('a', { class: 'btn', href: '#samples', text: '↑ all samples' }), prev, next,
        h('h2', null, `${x.task} · `, h('span', { class: 'mono', text: x.qid }))),
      h('p', { class: 'qa' }, h('span', { class: 'q', text: x.question || '(question not available)' })),
      h('div', { class: 'grid2' }, viewPanel(x), h('div', null, h('h3', { text: 'Answer' }), facts)),
      promptPanel(x)));
    root.appendChild(h('div', { class: 'panel' }, sampleCharts(x)));
  }

  // ---------- navigation ----------

  const main = document.getElementById('main');
  const sampleView = document.getElementById('sample-view');

  function renderNav() {
    const nav = document.getElementById('nav');
    nav.appendChild(h('a', { href: '#overview', text: 'Overview' }));
    for (const t of D.tasks) nav.appendChild(h('a', { href: '#task-' + slug(t), text: t }));
    nav.appendChild(h('a', { href: '#samples', text: 'Samples' }));
  }

  function route() {
    hideTip();
    const hash = decodeURIComponent(location.hash.replace(/^#/, ''));
    const m = /^sample\/(\d+)$/.exec(hash);
    if (m && +m[1] < D.samples.length) {
      main.hidden = true;
      sampleView.hidden = false;
      renderSample(+m[1]);
      window.scrollTo(0, 0);
    } else {
      sampleView.hidden = true;
      main.hidden = false;
      const target = hash ? document.getElementById(hash) : null;
      if (target) target.scrollIntoView();
    }
    for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('active', a.getAttribute('href') === '#' + hash);
  }

  renderNav();
  renderOverview();
  renderTasks();
  renderSamplesSection();
  window.addEventListener('hashchange', route);
  route();
  document.body.setAttribute('data-ready', 'true');
})();
