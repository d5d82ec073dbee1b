"use strict";
window.boardStart = performance.now();
// The results board: draws each view from the inlined data when its tab is first opened,
// and again when a control changes. Views with nothing to show say why instead of a chart.
const D = JSON.parse(document.getElementById("board-data").textContent);
const $ = (id) => document.getElementById(id);
const S = D.settings;
const COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
  "#7f7f7f", "#bcbd22", "#17becf"];
const CONFIG = { displaylogo: false, responsive: true };
const state = { view: "leaderboard", sortKey: null, sortAsc: false, picked: [] };

function esc(text) {
  return String(text).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;",
    '"': "&quot;" }[c]));
}
function fmt(x, d = 4) {
  if (x === null || x === undefined || !isFinite(x)) return "–";
  const a = Math.abs(x);
  return a !== 0 && (a < 1e-3 || a >= 1e5) ? x.toExponential(2) : (+x.toPrecision(d)).toString();
}
function paramsText(p) {
  const keys = Object.keys(p).sort();
  return keys.length ? keys.map((k) => `${k}=${p[k]}`).join(", ") : "(defaults)";
}
S.forEach((s, i) => { s.i = i; s.ptext = paramsText(s.params); });
function runName(i) { return D.runs[i].name; }
function runPrefix(name) { return D.runs.length > 1 ? `[${name}] ` : ""; }
function label(s) {
  const threads = s.threads > 1 ? `, ${s.threads} thr` : "";
  return `${runPrefix(runName(s.run))}${s.model} (${s.ptext})${threads}`;
}
function metric() { return $("metric").value; }
function direction() { return D.metrics[metric()].direction; }
function value(s, m = metric()) { return s[m] ? s[m][0] : null; }
function note(text, cls = "empty-note") { return `<div class="${cls}">${esc(text)}</div>`; }
function colorOf(key, keys) { return COLORS[keys.indexOf(key) % COLORS.length]; }
function unique(values) { return [...new Set(values)]; }
function plot(el, traces, layout) {
  for (const [key, axis] of Object.entries(layout)) {
    if (/^[xy]axis/.test(key) && typeof axis.title === "string") axis.title = { text: axis.title };
  }
  return Plotly.newPlot(el, traces, Object.assign({ margin: { t: 40, r: 20, b: 50, l: 60 },
    hovermode: "closest", legend: { font: { size: 10 } } }, layout), CONFIG);
}

// ------------------------------------------------------------------ controls and filters
function fillSelect(el, options, keep) {
  const old = el.value;
  el.innerHTML = options.map(([v, t]) => `<option value="${esc(v)}">${esc(t)}</option>`).join("");
  if (keep && options.some(([v]) => v === old)) el.value = old;
}
function inDataset() { return S.filter((s) => s.dataset === $("dataset").value); }
function filtered() {
  const model = $("f-model").value, threads = $("f-threads").value;
  const words = $("f-param").value.toLowerCase().split(/[\s,]+/).filter(Boolean);
  return inDataset().filter((s) => (model === "" || s.model === model)
    && (threads === "" || String(s.threads) === threads)
    && words.every((w) => s.ptext.toLowerCase().replace(/ /g, "").includes(w))
    && value(s) !== null);
}
function refreshFilters() {
  const rows = inDataset();
  fillSelect($("f-model"), [["", "all"], ...unique(rows.map((s) => s.model)).sort()
    .map((m) => [m, m])], true);
  fillSelect($("f-threads"), [["", "all"], ...unique(rows.map((s) => s.threads))
    .sort((a, b) => a - b).map((t) => [String(t), String(t)])], true);
}
function setup() {
  const datasets = unique(S.map((s) => s.dataset));
  fillSelect($("dataset"), datasets.map((d) => [d, d]));
  fillSelect($("metric"), Object.entries(D.metrics).map(([k, m]) => [k, m.label]));
  refreshFilters();
  $("runs").innerHTML = D.runs.map((r) => {
    const warn = r.in_progress ? ' <span class="warn">run still in progress: numbers are ' +
      "partial</span>" : "";
    const failed = r.failed ? `, ${r.failed} failed` : "";
    const stick = r.yardstick ? `; yardstick (how busy the machine was): ${esc(r.yardstick)}` : "";
    return `<div><b>${esc(r.name)}</b>: experiment ${esc(r.experiment)}, ${r.trials} trials` +
      `${failed}, commit ${esc(r.commit || "?")}${r.dirty ? " (dirty)" : ""}, ` +
      `${esc(r.started_at)}${stick}${warn}</div>`;
  }).join("");
  for (const id of ["dataset", "metric", "f-model", "f-threads"]) {
    $(id).addEventListener("change", () => { if (id === "dataset") refreshFilters(); redraw(); });
  }
  $("f-param").addEventListener("input", redraw);
  document.querySelectorAll(".tab").forEach((b) => b.addEventListener("click", () =>
    show(b.dataset.view)));
}
function show(view) {
  state.view = view;
  document.querySelectorAll(".tab").forEach((b) => b.classList.toggle("active",
    b.dataset.view === view));
  document.querySelectorAll(".view").forEach((v) => { v.hidden = v.id !== `view-${view}`; });
  draw(view);
}
function redraw() { draw(state.view); }
function draw(view) {
  const el = $(`view-${view}`);
  $("shown").textContent = `${filtered().length} of ${inDataset().length} settings shown`;
  VIEWS[view](el);
}

// ------------------------------------------------------------------ leaderboard
function sigMark(sig) {
  if (!sig) return ["–", "not testable"];
  const [p, n, method] = sig;
  if (method === "best") return ["best", "the best setting of this run and data set"];
  if (p === null) return ["–", `not testable (n=${n} ${method})`];
  const mark = p < 0.001 ? "***" : p < 0.01 ? "**" : p < 0.05 ? "*" : "ns";
  return [mark, `paired t-test vs best: p=${fmt(p, 3)}, n=${n} ${method}`];
}
function sortRows(rows) {
  const key = state.sortKey || metric();
  const sign = state.sortAsc ? 1 : -1;
  const get = (s) => key === "model" ? s.model : key === "params" ? s.ptext :
    key === "run" ? runName(s.run) : Array.isArray(s[key]) ? s[key][0] : s[key];
  const dir = key === metric() && !state.sortKey ? direction() : 1;
  return rows.slice().sort((a, b) => {
    const x = get(a), y = get(b);
    if (x === null || x === undefined) return 1;
    if (y === null || y === undefined) return -1;
    return (x < y ? -1 : x > y ? 1 : 0) * sign * dir;
  });
}
function leaderboard(el) {
  const m = metric(), rows = sortRows(filtered());
  const many = D.runs.length > 1;
  const cols = [...(many ? [["run", "run"]] : []), ["model", "model"], ["params", "params"],
    ["threads", "threads"], ["epoch", "best epoch"], [m, D.metrics[m].label + " mean"],
    [null, "95% interval"], [null, "vs best"], ["seeds", "seeds"], ["fit_s", "fit s"],
    ["epoch_s", "s/epoch"], ["users_per_s", "users/s"]];
  const head = cols.map(([k, t]) => `<th data-key="${k || ""}" class="${k && k ===
    (state.sortKey || m) ? "sorted" + (state.sortAsc ? " asc" : "") : ""}">${esc(t)}</th>`);
  const body = rows.map((s) => {
    const [mean, lo, hi] = s[m];
    const [mark, why] = sigMark(s[`${m}:sig`]);
    const picked = state.picked.includes(s.i) ? ' class="picked"' : "";
    return `<tr data-i="${s.i}"${picked}>${many ? `<td>${esc(runName(s.run))}</td>` : ""}` +
      `<td>${esc(s.model)}</td><td>${esc(s.ptext)}</td><td class="num">${s.threads}</td>` +
      `<td class="num">${s.epoch}</td><td class="num">${fmt(mean)}</td>` +
      `<td class="num">${lo === null ? `– (n=${s.seeds})` : `[${fmt(lo)}, ${fmt(hi)}]`}</td>` +
      `<td title="${esc(why)}">${mark}</td><td class="num">${s.seeds}</td>` +
      `<td class="num">${fmt(s.fit_s, 3)}</td><td class="num">${fmt(s.epoch_s, 3)}</td>` +
      `<td class="num">${fmt(s.users_per_s, 3)}</td></tr>`;
  });
  el.innerHTML = `<p class="note">Each setting at its best epoch (by test precision@k); click a ` +
    `header to sort, a row to pick it for the learning curves.</p><div class="chart" ` +
    `id="lb-chart"></div><div class="table-wrap"><table id="lb-table"><thead><tr>` +
    `${head.join("")}</tr></thead><tbody>${body.join("")}</tbody></table></div>`;
  el.querySelectorAll("th[data-key]").forEach((th) => th.addEventListener("click", () => {
    const k = th.dataset.key;
    if (!k) return;
    state.sortAsc = state.sortKey === k ? !state.sortAsc : false;
    state.sortKey = k;
    leaderboard(el);
  }));
  el.querySelector("tbody").addEventListener("click", (e) => {
    const tr = e.target.closest("tr");
    if (tr) { pick(+tr.dataset.i); tr.classList.toggle("picked"); }
  });
  const top = rows.slice(0, 30).reverse();
  if (!top.length) { $("lb-chart").outerHTML = note("No setting matches the filters."); return; }
  const hasCI = top.some((s) => s[m][1] !== null);
  plot("lb-chart", [{ type: "scatter", mode: "markers", x: top.map((s) => s[m][0]),
    y: top.map((s) => label(s)), customdata: top.map((s) => s.i),
    error_x: hasCI ? { type: "data", symmetric: false, array: top.map((s) => s[m][2] === null ?
      0 : s[m][2] - s[m][0]), arrayminus: top.map((s) => s[m][1] === null ? 0 :
      s[m][0] - s[m][1]) } : undefined,
    hovertemplate: "%{y}<br>" + D.metrics[m].label + " %{x}<extra></extra>" }],
  { title: { text: `Top ${top.length} shown: ${D.metrics[m].label} with 95% interval`,
    font: { size: 13 } }, height: 140 + 16 * top.length, margin: { l: 380, t: 40, r: 20, b: 40 },
  yaxis: { automargin: true, tickfont: { size: 10 } } });
}

// ------------------------------------------------------------------ quality vs fit time
function paretoFront(rows) {
  const d = direction();
  const sorted = rows.filter((s) => s.fit_s > 0).sort((a, b) => a.fit_s - b.fit_s ||
    d * (value(b) - value(a)));
  const front = [];
  let best = -Infinity;
  for (const s of sorted) if (d * value(s) > best) { best = d * value(s); front.push(s); }
  return front;
}
function tradeoff(el) {
  const m = metric(), rows = filtered();
  el.innerHTML = `<p class="note">Every shown setting at its best epoch: fit time to that ` +
    `epoch against ${esc(D.metrics[m].label)}; the line is the Pareto front (no setting is ` +
    `both faster and better). Click a point to pick it for the learning curves.</p>` +
    `<div class="chart" id="to-chart"></div><div id="to-picked" class="note"></div>`;
  if (!rows.length) { $("to-chart").outerHTML = note("No setting matches the filters."); return; }
  const models = unique(rows.map((s) => s.model));
  const traces = models.map((model) => {
    const mine = rows.filter((s) => s.model === model);
    return { type: "scatter", mode: "markers", name: model, x: mine.map((s) => s.fit_s),
      y: mine.map((s) => value(s)), customdata: mine.map((s) => s.i),
      text: mine.map((s) => `${label(s)}<br>epoch ${s.epoch}, ${s.seeds} seed(s)`),
      marker: { color: colorOf(model, models), size: 8, opacity: 0.8 },
      hovertemplate: "%{text}<br>fit %{x:.3g} s<br>" + D.metrics[m].label +
        " %{y:.4g}<extra></extra>" };
  });
  const front = paretoFront(rows);
  traces.push({ type: "scatter", mode: "lines", name: "Pareto front", line: { shape: "hv",
    color: "#444", dash: "dot" }, x: front.map((s) => s.fit_s), y: front.map((s) => value(s)),
  hoverinfo: "skip" });
  plot("to-chart", traces, { title: { text: `${$("dataset").value}: ${D.metrics[m].label} vs ` +
    "fit time", font: { size: 13 } }, height: 520, xaxis: { type: "log",
    title: "fit seconds to the best epoch (log)" }, yaxis: { title: D.metrics[m].label } })
    .then((gd) => gd.on("plotly_click", (ev) => {
      const i = ev.points[0].customdata;
      if (i === undefined) return;
      pick(i, true);
      $("to-picked").textContent = `Picked for the learning curves: ${label(S[i])}`;
    }));
}

// ------------------------------------------------------------------ learning curves
function pick(i, only_add = false) {
  const at = state.picked.indexOf(i);
  if (at >= 0 && !only_add) state.picked.splice(at, 1);
  else if (at < 0) state.picked.push(i);
}
function curves(el) {
  const have = new Set(D.curves.map((c) => c.s));
  let picked = state.picked.filter((i) => S[i].dataset === $("dataset").value && have.has(i));
  const auto = !picked.length;
  if (auto) picked = sortRows(filtered()).filter((s) => have.has(s.i)).slice(0, 3)
    .map((s) => s.i);
  const chips = picked.map((i, n) => `<span class="chip" style="border-left: 6px solid ` +
    `${COLORS[n % COLORS.length]}">${esc(label(S[i]))} <button data-i="${i}"` +
    ` title="remove">×</button></span>`).join("");
  el.innerHTML = `<p class="note">${auto ? "No setting picked: the three best shown. " : ""}` +
    "Pick settings in the leaderboard or the quality vs time chart. Solid: test, dashed: " +
    "train; bands: 95% interval over split seeds.</p>" + `<div class="chips">${chips}</div>` +
    '<div class="row-charts"><div class="chart" id="cu-p"></div><div class="chart" ' +
    'id="cu-mse"></div></div>';
  el.querySelectorAll(".chip button").forEach((b) => b.addEventListener("click", () => {
    pick(+b.dataset.i); curves(el);
  }));
  for (const [metricKey, id, title] of [["p", "cu-p", "precision@k"], ["mse", "cu-mse", "MSE"]]) {
    const mine = D.curves.filter((c) => c.metric === metricKey && picked.includes(c.s));
    if (!mine.length) {
      $(id).outerHTML = note(`No ${title} curve stored for the picked settings.`);
      continue;
    }
    const traces = [];
    for (const c of mine) {
      const color = COLORS[picked.indexOf(c.s) % COLORS.length];
      const name = `${label(S[c.s])} ${c.subset}`;
      if (c.low) {
        traces.push({ x: c.epoch.concat(c.epoch.slice().reverse()), y: c.high.concat(
          c.low.slice().reverse()), fill: "toself", fillcolor: color + "22", line: { width: 0 },
        hoverinfo: "skip", showlegend: false, type: "scatter", connectgaps: false });
      }
      traces.push({ type: "scatter", mode: c.epoch.length > 1 ? "lines+markers" : "markers",
        name, x: c.epoch, y: c.mean, line: { color, dash: c.subset === "train" ? "dash" :
          "solid" }, marker: { color, size: 5 },
        hovertemplate: `${esc(name)}<br>epoch %{x}: %{y:.4g}<extra></extra>` });
    }
    plot(id, traces, { title: { text: title, font: { size: 13 } }, height: 420,
      xaxis: { title: "epoch" }, yaxis: { title }, legend: { orientation: "h", y: -0.25,
        font: { size: 9 } } });
  }
}

// ------------------------------------------------------------------ grid heatmaps
function heatmap(el) {
  const rows = filtered();
  const models = unique(rows.map((s) => s.model)).filter((m) => variedParams(rows, m).length >= 2);
  const prev = { model: $("hm-model")?.value, x: $("hm-x")?.value, y: $("hm-y")?.value,
    facet: $("hm-facet")?.value };
  if (!models.length) {
    el.innerHTML = note("No shown model has two or more parameters that vary: nothing to lay " +
      "out on a grid.");
    return;
  }
  el.innerHTML = '<div><label>model <select id="hm-model"></select></label><label>x ' +
    '<select id="hm-x"></select></label><label>y <select id="hm-y"></select></label><label>' +
    'panels by <select id="hm-facet"></select></label></div><p class="note" id="hm-note"></p>' +
    '<div class="row-charts" id="hm-panels"></div>';
  fillSelect($("hm-model"), models.map((m) => [m, m]));
  if (models.includes(prev.model)) $("hm-model").value = prev.model;
  const params = variedParams(rows, $("hm-model").value);
  const pickOr = (v, d) => (params.includes(v) ? v : d);
  fillSelect($("hm-x"), params.map((p) => [p, p]));
  fillSelect($("hm-y"), params.map((p) => [p, p]));
  fillSelect($("hm-facet"), [["", "none"], ...params.map((p) => [p, p])]);
  $("hm-x").value = pickOr(prev.x, params.includes("factors") ? "factors" : params[0]);
  $("hm-y").value = pickOr(prev.y, params.includes("regularization") ? "regularization" :
    params.find((p) => p !== $("hm-x").value));
  const freeAlpha = params.includes("alpha") && ![$("hm-x").value, $("hm-y").value]
    .includes("alpha");
  $("hm-facet").value = prev.facet === "" || params.includes(prev.facet) ? prev.facet :
    freeAlpha ? "alpha" : "";
  ["hm-model", "hm-x", "hm-y", "hm-facet"].forEach((id) => $(id).addEventListener("change",
    () => heatmap(el)));
  drawPanels(rows.filter((s) => s.model === $("hm-model").value));
}
function variedParams(rows, model) {
  const mine = rows.filter((s) => s.model === model);
  const keys = unique(mine.flatMap((s) => Object.keys(s.params)));
  return keys.filter((k) => unique(mine.map((s) => JSON.stringify(s.params[k]))).length > 1).sort();
}
function drawPanels(rows) {
  const m = metric(), d = direction();
  const [px, py, pf] = [$("hm-x").value, $("hm-y").value, $("hm-facet").value];
  const key = (v) => JSON.stringify(v);
  const order = (p) => unique(rows.map((s) => s.params[p])).sort((a, b) =>
    (typeof a === "number" && typeof b === "number") ? a - b : String(a) < String(b) ? -1 : 1);
  const xs = order(px), ys = order(py), facets = pf ? order(pf) : [null];
  const others = variedParams(rows, $("hm-model").value).filter((p) => ![px, py, pf].includes(p));
  $("hm-note").textContent = `${D.metrics[m].label} at each setting's best epoch` +
    (others.length ? `; each cell shows the best over ${others.join(", ")} (hover for which)` :
      "") +
    (px === py ? " (x and y are the same parameter)" : "");
  const values = rows.map((s) => value(s)).filter((v) => v !== null);
  const [zmin, zmax] = [Math.min(...values), Math.max(...values)];
  const panels = $("hm-panels");
  panels.innerHTML = facets.map((_, i) => `<div class="chart facet" id="hm-${i}"></div>`).join("");
  facets.forEach((f, i) => {
    const mine = rows.filter((s) => pf === "" || key(s.params[pf]) === key(f));
    const z = ys.map(() => xs.map(() => null)), text = ys.map(() => xs.map(() => ""));
    for (const s of mine) {
      const [xi, yi] = [xs.findIndex((v) => key(v) === key(s.params[px])),
        ys.findIndex((v) => key(v) === key(s.params[py]))];
      const v = value(s);
      if (v !== null && (z[yi][xi] === null || d * v > d * z[yi][xi])) {
        z[yi][xi] = v;
        text[yi][xi] = `${esc(s.ptext)}<br>epoch ${s.epoch}`;
      }
    }
    plot(`hm-${i}`, [{ type: "heatmap", x: xs.map(String), y: ys.map(String), z, text,
      zmin, zmax, colorscale: d > 0 ? "Viridis" : "Viridis_r", reversescale: d < 0,
      texttemplate: xs.length * ys.length <= 80 ? "%{z:.3g}" : "", showscale: i === 0,
      hovertemplate: `${px}=%{x}, ${py}=%{y}<br>${D.metrics[m].label} %{z:.4g}<br>%{text}` +
        "<extra></extra>" }],
    { title: { text: pf ? `${pf} = ${f}` : $("hm-model").value, font: { size: 13 } },
      height: 340, xaxis: { title: px, type: "category" }, yaxis: { title: py, type: "category" },
      margin: { t: 40, r: 10, b: 50, l: 60 } });
  });
}

// ------------------------------------------------------------------ per-user metrics
function users(el) {
  const ds = $("dataset").value;
  const entries = D.users.filter((u) => u.message && !u.dataset || u.dataset === ds);
  let html = '<p class="note">Per-user test precision@k of each model\'s best setting, users ' +
    "of every split seed pooled: the raw material of the paired tests.</p>";
  entries.forEach((u, i) => {
    if (u.message) html += note(u.message);
    else html += `<div class="chart" id="us-${i}"></div>` + (u.missing ? note("Left out: " +
      u.missing.join("; "), "note") : "");
  });
  if (!entries.length) html += note(`No per-user data for ${ds}.`);
  el.innerHTML = html;
  entries.forEach((u, i) => {
    if (u.message) return;
    const traces = u.models.map((m) => {
      const total = m.counts.reduce((a, b) => a + b, 0);
      return { type: "bar", name: `${m.model} (mean ${fmt(m.mean, 3)}, ${m.n} users)`,
        x: m.values, y: m.counts.map((c) => c / total), text: m.params, textposition: "none",
        hovertemplate: `${esc(m.model)}: %{text}<br>precision %{x}: %{y:.1%} of users` +
          "<extra></extra>" };
    });
    plot(`us-${i}`, traces, { barmode: "group", height: 420, title: { text: `${u.run}: ` +
      `per-user precision@${u.k} on ${u.dataset}`, font: { size: 13 } },
    xaxis: { title: `precision@${u.k}` }, yaxis: { title: "share of users", tickformat: ".0%" } });
  });
}

// ------------------------------------------------------------------ scaling
function scaling(el) {
  const ds = $("dataset").value;
  const threads = D.threads.filter((t) => t.dataset === ds);
  el.innerHTML = '<div class="chart" id="sc-threads"></div><div class="chart" id="sc-sizes"></div>';
  if (!threads.length) {
    $("sc-threads").outerHTML = note(`No setting on ${ds} was run at more than one thread count.`);
  } else {
    const maxT = Math.max(...threads.flatMap((t) => t.threads));
    const base = Math.min(...threads.map((t) => t.base));
    const traces = threads.map((t, i) => ({ type: "scatter", mode: "lines+markers",
      name: `${runPrefix(t.run)}${t.model} (${t.params})`, x: t.threads, y: t.speedup,
      customdata: t.s_per_epoch,
      line: { color: COLORS[i % COLORS.length] },
      hovertemplate: "%{x} threads: ×%{y:.2f} (%{customdata:.3g} s/epoch)<extra></extra>" }));
    traces.push({ type: "scatter", mode: "lines", name: "ideal", x: [base, maxT],
      y: [1, maxT / base], line: { color: "#999", dash: "dash" }, hoverinfo: "skip" });
    plot("sc-threads", traces, { title: { text: `${ds}: speedup of a fit epoch vs threads`,
      font: { size: 13 } }, height: 420, xaxis: { title: "threads", dtick: 1 },
    yaxis: { title: `speedup vs ${base} thread(s)` }, legend: { font: { size: 9 } } });
  }
  const model = $("f-model").value, nthreads = $("f-threads").value;
  const words = $("f-param").value.toLowerCase().split(/[\s,]+/).filter(Boolean);
  const sizes = D.sizes.filter((t) => (model === "" || t.model === model) && (nthreads === "" ||
    String(t.threads) === nthreads) && words.every((w) => t.params.toLowerCase()
    .replace(/ /g, "").includes(w)));
  if (!sizes.length) {
    $("sc-sizes").outerHTML = note(D.sizes.length ? "No setting run on two or more data sizes " +
      "matches the filters." : "No setting was run on two or more data sizes.");
    return;
  }
  const traces = [];
  sizes.forEach((t, i) => {
    const color = COLORS[i % COLORS.length];
    const name = `${runPrefix(t.run)}${t.model}, ${t.threads} thr (${t.params}): slope ` +
      fmt(t.slope, 3);
    traces.push({ type: "scatter", mode: "markers", name, x: t.likes, y: t.sec, legendgroup: i,
      marker: { color, size: 8 }, hovertemplate: `${esc(name)}<br>%{x:,} likes: %{y:.3g} ` +
        "s/epoch<extra></extra>" });
    const lo = Math.min(...t.likes), hi = Math.max(...t.likes);
    traces.push({ type: "scatter", mode: "lines", name: "fit", legendgroup: i, showlegend: false,
      x: [lo, hi], y: [lo, hi].map((x) => Math.exp(t.intercept) * Math.pow(x, t.slope)),
      line: { color, dash: "dot" }, hoverinfo: "skip" });
  });
  plot("sc-sizes", traces, { title: { text: "Fit time per epoch vs data size (log-log; dotted: " +
    "fitted power law, slope 1 = linear)", font: { size: 13 } }, height: 460,
  xaxis: { type: "log", title: "likes" }, yaxis: { type: "log", title: "fit seconds per epoch" },
  legend: { font: { size: 9 } } });
}

// ------------------------------------------------------------------ runs side by side
function runsView(el) {
  const C = D.compare, m = metric();
  if (C.message) { el.innerHTML = note(C.message); return; }
  const shown = new Set(filtered().map((s) => s.i));
  const rows = C.rows.filter((r) => r.dataset === $("dataset").value && Object.values(r.s)
    .some((i) => shown.has(i)));
  const verdict = Object.entries(C.regressed).map(([name, bad]) => `${esc(name)} vs ` +
    `${esc(C.baseline)}: ${bad ? '<span class="bad">regressions flagged</span>' :
      "no regression"}`);
  let html = `<p class="note">Baseline: <b>${esc(C.baseline)}</b>. Δ and its interval are ` +
    "recsys-bench compare's (final epoch, test); REGRESSED as compare flags it. " +
    `${verdict.join("; ")}</p>` + C.notes.map((n) => note(n, "note warn")).join("");
  if (!rows.length) {
    el.innerHTML = html + note("No setting of this data set is in two runs.");
    return;
  }
  const runs = D.runs.map((r, i) => i);
  const head = ["model", "params", "threads", ...runs.map((i) => `${runName(i)} ` +
    D.metrics[m].label), ...runs.slice(1).map((i) => `Δ ${runName(i)}`), "marks"];
  const body = rows.map((r) => {
    const cells = runs.map((i) => {
      const s = S[r.s[i]];
      return `<td class="num">${s ? fmt(value(s)) : "–"}</td>`;
    });
    const marks = [];
    const deltas = runs.slice(1).map((i) => {
      const v = r.verdicts[i];
      const q = v && v.quality[m];
      if (r.not_comparable.includes(i)) marks.push(`<span class="nc">not comparable ` +
        `(${esc(runName(i))}: other splits)</span>`);
      if (v) for (const [name, x] of Object.entries(v.quality)) if (x[4]) marks.push(
        `<span class="bad">REGRESSED ${esc(name)} (${esc(runName(i))})</span>`);
      if (v) for (const [name, x] of Object.entries(v.time)) if (x[1]) marks.push(
        `<span class="bad">SLOWER ${esc(name)} ×${fmt(x[0], 3)} (${esc(runName(i))})</span>`);
      return `<td class="num">${q ? `${fmt(q[0])} [${fmt(q[1])}, ${fmt(q[2])}]` : "–"}</td>`;
    });
    return `<tr><td>${esc(r.model)}</td><td>${esc(r.params)}</td><td class="num">${r.threads}` +
      `</td>${cells.join("")}${deltas.join("")}<td>${marks.join(" ")}</td></tr>`;
  });
  el.innerHTML = html + '<div class="chart" id="rn-chart"></div><div class="table-wrap">' +
    `<table id="rn-table"><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join("")}</tr>` +
    `</thead><tbody>${body.join("")}</tbody></table></div>`;
  const top = rows.slice(0, 40);
  const names = top.map((r) => `${r.model} (${r.params})` +
    (r.threads > 1 ? `, ${r.threads} thr` : ""));
  const traces = runs.map((i) => {
    const bad = top.map((r) => Boolean(r.verdicts[i] && Object.values(r.verdicts[i].quality)
      .some((x) => x[4])) || r.not_comparable.includes(i));
    return { type: "scatter", mode: "markers", name: runName(i), x: names,
      y: top.map((r) => (S[r.s[i]] ? value(S[r.s[i]]) : null)),
      marker: { size: bad.map((b) => (b ? 13 : 8)), symbol: bad.map((b) => (b ? "x" : "circle")),
        line: { width: 1 } },
      hovertemplate: `${esc(runName(i))}: %{y:.4g}<br>%{x}<extra></extra>` };
  });
  plot("rn-chart", traces, { title: { text: `${D.metrics[m].label} per run (× marks a ` +
    "regression or a not comparable row)", font: { size: 13 } }, height: 460,
  scattermode: "group",
  xaxis: { tickangle: 30, tickfont: { size: 9 }, automargin: true } });
}

// ------------------------------------------------------------------ asv
function asv(el) {
  if (!D.asv) {
    el.innerHTML = note("No asv results given: build the board with --asv .asv/results to " +
      "chart the benchmark history per commit.");
    return;
  }
  const names = unique(D.asv.series.map((s) => s.name));
  const prev = $("asv-bench")?.value;
  el.innerHTML = '<label>benchmark <select id="asv-bench"></select></label>' +
    '<div class="chart" id="asv-chart"></div>';
  fillSelect($("asv-bench"), names.map((n) => [n, n]));
  if (names.includes(prev)) $("asv-bench").value = prev;
  $("asv-bench").addEventListener("change", () => asv(el));
  const mine = D.asv.series.filter((s) => s.name === $("asv-bench").value);
  plot("asv-chart", mine.map((s) => ({ type: "scatter", mode: "lines+markers", name: s.machine,
    x: s.points.map((p) => p[0]), y: s.points.map((p) => p[2]), text: s.points.map((p) => p[1]),
    hovertemplate: "commit %{text}<br>%{x}<br>%{y:.4g} " + esc(s.unit) + "<extra></extra>" })),
  { title: { text: $("asv-bench").value, font: { size: 13 } }, height: 440,
    xaxis: { title: "commit date" },
    yaxis: { title: mine[0].unit || "value", rangemode: "tozero" } });
}

const VIEWS = { leaderboard, tradeoff, curves, heatmap, users, scaling, runs: runsView, asv };
setup();
show("leaderboard");
window.boardReady = performance.now();
document.body.dataset.ready = "1";
