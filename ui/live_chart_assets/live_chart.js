// The browser half of ui/live_chart.py: draws a Plotly figure into the component's <div> and, when the
// same element receives a new figure (a slider moved), updates it in place with Plotly.react instead of
// a fresh Plotly.newPlot in a new element. Loaded once per page (an ES module), like plotly.js.
//
// Two plotly.js bundles, both served by Streamlit's component file route, never from the internet:
// - plotly.js's official "cartesian" partial bundle (plotly-cartesian.min.js, 1.5 MB, vendored beside this file,
//   see plotly-cartesian.SOURCE.md): every figure whose traces are all of CARTESIAN_TRACES. Chromium here takes
//   0.38-0.47 s from script insertion to Plotly ready, against 1.03-1.08 s for the full bundle (4.8 MB).
// - the full plotly.min.js of the pinned plotly Python package, only for a figure with another trace type.
// An element keeps the Plotly that drew it (el.__labPlotly): a plot is only ever updated by the same instance.
const BUNDLES = {
  cartesian: new URL("plotly-cartesian.min.js", import.meta.url).href,
  full: new URL("../ui.live_chart.plotlyjs/plotly.min.js", import.meta.url).href,
};
// The trace modules of plotly-cartesian.min.js (its README; tests/e2e check this list against the bundle itself).
export const CARTESIAN_TRACES = ["bar", "box", "contour", "heatmap", "histogram", "histogram2d", "histogram2dcontour",
                                 "image", "pie", "scatter", "scatterternary", "violin"];
// Streamlit 1.67's Plotly theme for this app's light base (what st.plotly_chart merged into every figure's
// template.layout, read from its drawn charts): faded text for ticks and axis titles, light grid lines, left
// bold titles. The font family, title colour and background come from the page itself, so they follow the
// app's [theme] in .streamlit/config.toml.
const FADED = "#808495", GRID = "#e6eaf1", LEGEND = "#262730";

const loading = {};  // bundle name -> Promise of its Plotly

function load(bundle) {
  return loading[bundle] || (loading[bundle] = new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = BUNDLES[bundle];
    // The bundle sets window.Plotly while it runs, and its load event fires straight after (the same task), so
    // this is the Plotly of this bundle even when both bundles load at once.
    script.onload = () => (window.Plotly ? resolve(window.Plotly) : reject(new Error(`no Plotly in ${bundle} plotly.js`)));
    script.onerror = () => { delete loading[bundle]; script.remove(); reject(new Error("plotly.js did not load")); };
    document.head.appendChild(script);
  }));
}

// The bundle a figure needs: the cartesian one unless a trace has another type (no type: a scatter trace).
export function bundleFor(figure) {
  const types = ((figure && figure.data) || []).map((trace) => (trace && trace.type) || "scatter");
  return types.every((type) => CARTESIAN_TRACES.includes(type)) ? "cartesian" : "full";
}

// Start loading plotly.js before any chart needs it: at the top of a page with live charts ("now"), or at the end
// of Home ("idle": a second after Home is drawn, then in the browser's idle time, so it cannot slow Home's own
// rendering), so that a visit to a chart page through the sidebar (client-side navigation keeps this module and
// window.Plotly) finds it loaded. Returns the promise of the cartesian bundle's Plotly.
export function preload(when) {
  if (when !== "idle") return load("cartesian");
  return new Promise((resolve) => setTimeout(resolve, IDLE_DELAY_MS))
    .then(() => new Promise((resolve) => (window.requestIdleCallback ? window.requestIdleCallback(resolve, { timeout: 5000 })
                                                                    : resolve())))
    .then(() => load("cartesian"));
}
const IDLE_DELAY_MS = 1000;

function plotlyFor(el, figure) {
  const bundle = bundleFor(figure);
  // The full bundle draws everything: an element it drew keeps it, and once it is here any new element uses it.
  if (el.__labPlotly && (bundle === "cartesian" || el.__labBundle === "full")) return Promise.resolve([el.__labBundle, el.__labPlotly]);
  if (bundle === "cartesian" && loading.full && loading.full.done) return loading.full.then((Plotly) => ["full", Plotly]);
  const promise = load(bundle);
  promise.then(() => { promise.done = true; }, () => {});
  return promise.then((Plotly) => [bundle, Plotly]);
}

function isObject(value) {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function merge(target, source) {  // source wins, objects merged key by key (lodash's merge, as Streamlit does)
  for (const [key, value] of Object.entries(source)) {
    target[key] = isObject(value) && isObject(target[key]) ? merge(target[key], value) : value;
  }
  return target;
}

function themed(layout, host, previous) {
  const source = JSON.stringify(layout.template || null);
  if (previous && previous.source === source) {  // the same object again: Plotly.react then skips the template
    layout.template = previous.template;
  } else {
    layout.template = themedTemplate(layout.template, host);
  }
  const title = typeof layout.title === "string" ? { text: layout.title } : layout.title;
  if (isObject(title) && typeof title.text === "string" && title.text) layout.title = { ...title, text: `<b>${title.text}</b>` };
  return { layout, source };
}

function themedTemplate(template, host) {
  const style = getComputedStyle(host);
  const app = document.querySelector(".stApp") || document.body;
  const family = style.fontFamily, text = style.color, background = getComputedStyle(app).backgroundColor;
  const tick = { color: FADED, size: 12 }, axisTitle = { font: { color: FADED, size: 14 } };
  const theme = {
    font: { color: FADED, family, size: 12, weight: 400 },
    title: { font: { family, size: 16, color: text }, pad: { l: 4 }, xanchor: "left", x: 0 },
    legend: { title: { font: { size: 12, color: FADED }, side: "top" }, valign: "top", bordercolor: "transparent",
              borderwidth: 0, font: { size: 12, color: LEGEND } },
    paper_bgcolor: background, plot_bgcolor: background,
    xaxis: { zerolinecolor: GRID, gridcolor: GRID, showgrid: false, tickfont: tick, tickcolor: GRID,
             title: { ...axisTitle, standoff: 20 }, minor: { gridcolor: GRID }, zeroline: false, automargin: true },
    yaxis: { ticklabelposition: "outside", zerolinecolor: GRID, gridcolor: GRID, tickfont: tick, tickcolor: GRID,
             title: { ...axisTitle, standoff: 24 }, minor: { gridcolor: GRID }, automargin: true },
    margin: { pad: 8, r: 0, l: 0 },
    hoverlabel: { bgcolor: background, bordercolor: "rgba(28, 36, 48, 0.2)", font: { color: FADED, family, size: 12 } },
    coloraxis: { colorbar: { thickness: 16, xpad: 24, ticklabelposition: "outside", outlinecolor: "transparent",
                             outlinewidth: 8, len: 0.75, y: 0.5745, title: axisTitle, tickfont: tick } },
  };
  const out = isObject(template) ? template : {};
  out.layout = merge(isObject(out.layout) ? out.layout : {}, theme);
  return out;
}

// Plotly.react compares data arrays by identity: a new but equal trace counts as changed, and the figure is recomputed
// and redrawn whole (about 20 ms a chart here, even when nothing changed). plotly.py sends numpy arrays as base64
// ({dtype, bdata}), which plotly.js decodes into new typed arrays on every react, so a trace is never "the same".
// Here a new trace is decoded once, and a trace equal (as JSON) to the one drawn before at its place is passed as that
// same object: a figure where only a marker line moved is relaid out, not recomputed (8 ms instead of 20-30).
// Each array is also kept by its content, so a changed trace whose arrays did not change (only its colour, width or
// opacity did: a figure that highlights one of several drawn curves) reuses them, and plotly.js restyles it without
// recomputing the figure (docs/performance.md, seventh round).
function unchangedTraces(el, data) {
  const before = el.__labTraces || [];
  const arrays = { previous: el.__labArrays || new Map(), next: new Map() };
  const texts = data.map((trace) => JSON.stringify(trace));
  const traces = data.map((trace, i) => {
    const fresh = decoded(trace, arrays);  // also carries this trace's arrays over to the next draw
    return before[i] && before[i].text === texts[i] ? before[i].trace : fresh;
  });
  el.__labTraces = traces.map((trace, i) => ({ trace, text: texts[i] }));
  el.__labArrays = arrays.next;
  return traces;
}

// The layout's data arrays (an axis's tickvals, ticktext, categoryarray) are compared by identity too, and a new one
// makes plotly.js recompute the figure: an equal one is handed back as the array drawn before. Only these keys: plotly.js
// writes other layout arrays (an autoranged axis's range) back into the layout it was given.
const AXIS_ARRAYS = ["tickvals", "ticktext", "categoryarray"];

function unchangedAxisArrays(el, layout) {
  const arrays = { previous: el.__labAxisArrays || new Map(), next: new Map() };
  for (const [key, axis] of Object.entries(layout)) {
    if (!/^[xy]axis\d*$/.test(key) || !isObject(axis)) continue;
    const out = { ...axis };
    for (const name of AXIS_ARRAYS) {
      if (out[name] !== null && typeof out[name] === "object") out[name] = decoded(out[name], arrays);
    }
    layout[key] = out;
  }
  el.__labAxisArrays = arrays.next;
  return layout;
}

const TYPED = { f8: Float64Array, f4: Float32Array, i4: Int32Array, u4: Uint32Array, i2: Int16Array,
                u2: Uint16Array, i1: Int8Array, u1: Uint8Array, u1c: Uint8ClampedArray };

// A copy of `value` with every base64 array spec of one or two dimensions as the typed array plotly.js would make of
// it (two dimensions: an array of row views); anything else, including three dimensions, is left for plotly.js.
// `arrays.previous` maps an array's content (its base64 spec, or the JSON of a plain array of numbers or strings) to
// the array drawn last time: an equal one is handed back as that same object. `arrays.next` collects this draw's.
function decoded(value, arrays) {
  if (value === null || typeof value !== "object" || ArrayBuffer.isView(value)) return value;
  if (Array.isArray(value)) {
    if (value.some((v) => v !== null && typeof v === "object")) return value.map((v) => decoded(v, arrays));
    return kept(arrays, `J${JSON.stringify(value)}`, () => value);
  }
  if (typeof value.bdata === "string" && TYPED[value.dtype]) {
    const array = kept(arrays, `B${value.dtype}|${value.shape}|${value.bdata}`, () => typedArray(value));
    if (array) return array;
  }
  const out = {};
  for (const [key, v] of Object.entries(value)) out[key] = decoded(v, arrays);
  return out;
}

function kept(arrays, key, make) {
  const array = arrays.next.get(key) || arrays.previous.get(key) || make();
  if (array) arrays.next.set(key, array);
  return array;
}

function typedArray({ dtype, bdata, shape }) {
  const dims = shape === undefined ? [] : String(shape).split(",").map(Number);
  if (dims.length > 2 || dims.some((d) => !Number.isInteger(d) || d < 0)) return null;
  let binary;
  try {
    binary = atob(bdata);
  } catch (err) {
    return null;  // not base64: plotly.js says what is wrong with it
  }
  const Typed = TYPED[dtype];
  if (binary.length % Typed.BYTES_PER_ELEMENT) return null;
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  const flat = new Typed(bytes.buffer);
  if (dims.length < 2) return flat;
  const [rows, columns] = dims;
  if (rows * columns !== flat.length) return null;
  return Array.from({ length: rows }, (_, r) => flat.subarray(r * columns, (r + 1) * columns));
}

function failed(el, message) {
  el.textContent = `This chart could not be drawn: ${message}.`;
  el.style.height = "auto";
  el.style.color = FADED;
  el.style.fontSize = "14px";
}

// Instant previews (ui/instant.py, instant.js): a figure the browser drew from its table, or the server sent for a
// preview with one, carries a tag (the table's version and the slider value). instant.js sets the gate: it says
// when the server's figure is for a value the slider has already left (drawn from the table instead).
let gate = () => false;
export function setGate(fn) {
  gate = fn;
}

export function draw({ parentElement, data }) {
  const el = parentElement.querySelector(".lab-live-chart");
  if (!el) return;
  const text = new TextDecoder().decode(data);
  if (text === el.__labText) return;  // a rerun that left this figure as it was
  let spec;
  try {
    spec = JSON.parse(text);
  } catch (err) {
    failed(el, "its figure is not valid JSON");
    return;
  }
  if (spec.preload) {  // ui/live_chart.preload(): an invisible element that only starts loading plotly.js
    el.__labText = text;
    preload(spec.preload).catch(() => {});  // a failure shows on the charts themselves
    return;
  }
  el.__labHost = parentElement;
  el.__labConfig = spec.config;
  if (spec.tag && el.__labPlotly && (spec.tag === el.__labInstant || gate(el, spec.tag))) {
    el.__labText = text;  // drawn already from the instant table, or stale: the table draws the slider's value
    return;
  }
  render(el, spec.figure || {}, spec.config, spec.tag || null, text);
}

// Draw `figure` into a live chart the server drew before (instant.js: a value from its table).
export function drawFigure(el, figure, tag) {
  if (el.__labPlotly && el.__labHost) render(el, figure, el.__labConfig || {}, tag, null);
}

function render(el, figure, specConfig, tag, text) {
  const parentElement = el.__labHost, layout = figure.layout || {};
  const height = layout.height >= 10 ? layout.height : 450;  // st.plotly_chart's default height
  el.style.height = `${height}px`;  // reserve the space before plotly.js arrives
  el.style.width = "100%";
  el.__labInstant = tag;
  plotlyFor(el, figure).then(([bundle, Plotly]) => {
    if (el.__labInstant !== tag) return;  // a newer figure was asked for while plotly.js loaded
    if (el.__labPlotly && el.__labPlotly !== Plotly) {  // drawn by the cartesian bundle, now needs the full one
      el.__labPlotly.purge(el);
      forgetDrawn(el);
    }
    if (!el.classList.contains("js-plotly-plot")) el.replaceChildren();  // a failure message from before
    el.style.color = "";
    el.style.fontSize = "";
    const config = { ...specConfig, responsive: false };
    const drawn = themed({ ...layout, height }, parentElement, el.__labTemplate);
    // plotly.js deep-copies and compares the config on every react that passes one (about 1.5 ms a chart): only a
    // new config is passed, and a react without one keeps the element's
    const configText = JSON.stringify(config);
    const sameConfig = el.__labConfigText === configText && el.classList.contains("js-plotly-plot");
    Plotly.react(el, unchangedTraces(el, figure.data || []), unchangedAxisArrays(el, drawn.layout),
                 sameConfig ? undefined : config);
    el.__labConfigText = configText;
    el.__labPlotly = Plotly;
    el.__labBundle = bundle;  // which plotly.js drew it (tests, benchmarks)
    el.__labText = text;
    el.__labTemplate = { source: drawn.source, template: drawn.layout.template };
    el.__labDraws = (el.__labDraws || 0) + 1;  // how often this element was drawn (tests, benchmarks)
    if (!el.__labResize && window.ResizeObserver) {  // the column's width changes with the window and sidebar
      let pending = 0, width = null;
      el.__labResize = new ResizeObserver((entries) => {
        const now = entries[entries.length - 1].contentRect.width;
        if (now === width) return;  // the height follows the figure; only a new width needs a redraw
        width = now;
        cancelAnimationFrame(pending);
        pending = requestAnimationFrame(() => el.isConnected && el.classList.contains("js-plotly-plot") && el.__labPlotly.Plots.resize(el));
      });
      el.__labResize.observe(el.parentElement);
    }
  }, (err) => failed(el, err.message));
}

// Streamlit calls this when the element unmounts, and also for a render whose data was superseded before its
// script ran (a fast slider): then the element is still on the page and must keep its plot.
export function remove(el) {
  if (!el) return;
  setTimeout(() => {
    if (el.isConnected) return;
    el.__labRemoved = (el.__labRemoved || 0) + 1;  // really unmounted (a move must never get here: tests check it)
    if (el.__labResize) el.__labResize.disconnect();
    if (el.__labPlotly && el.classList.contains("js-plotly-plot")) el.__labPlotly.purge(el);
    forgetDrawn(el);
  }, 0);
}

// What render keeps of the figure drawn last to hand plotly.js the same objects again (template, traces, arrays,
// config): dropped when plotly.js's own state for the element is purged.
function forgetDrawn(el) {
  el.__labTemplate = null;
  el.__labTraces = null;
  el.__labArrays = null;
  el.__labAxisArrays = null;
  el.__labConfigText = null;
}
