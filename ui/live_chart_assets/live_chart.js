// The browser half of ui/live_chart.py: draws a Plotly figure into the component's <div> and, when the
// same element receives a new figure (a slider moved), updates it in place with Plotly.react instead of
// a fresh Plotly.newPlot in a new element. Loaded once per page (an ES module), like plotly.js, which
// comes from the pinned plotly Python package through Streamlit's component file route.
const PLOTLY_JS = new URL("../ui.live_chart.plotlyjs/plotly.min.js", import.meta.url).href;

// Streamlit 1.67's Plotly theme for this app's light base (what st.plotly_chart merged into every figure's
// template.layout, read from its drawn charts): faded text for ticks and axis titles, light grid lines, left
// bold titles. The font family, title colour and background come from the page itself, so they follow the
// app's [theme] in .streamlit/config.toml.
const FADED = "#808495", GRID = "#e6eaf1", LEGEND = "#262730";

let loading = null;

function plotly() {
  if (window.Plotly) return Promise.resolve(window.Plotly);
  return loading || (loading = new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = PLOTLY_JS;
    script.onload = () => (window.Plotly ? resolve(window.Plotly) : reject(new Error("no Plotly in plotly.min.js")));
    script.onerror = () => { loading = null; script.remove(); reject(new Error("plotly.js did not load")); };
    document.head.appendChild(script);
  }));
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

function failed(el, message) {
  el.textContent = `This chart could not be drawn: ${message}.`;
  el.style.height = "auto";
  el.style.color = FADED;
  el.style.fontSize = "14px";
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
  const figure = spec.figure || {}, layout = figure.layout || {};
  const height = layout.height >= 10 ? layout.height : 450;  // st.plotly_chart's default height
  el.style.height = `${height}px`;  // reserve the space before plotly.js arrives
  el.style.width = "100%";
  plotly().then((Plotly) => {
    if (!el.classList.contains("js-plotly-plot")) el.replaceChildren();  // a failure message from before
    el.style.color = "";
    el.style.fontSize = "";
    const config = { ...spec.config, responsive: false };
    const drawn = themed({ ...layout, height }, parentElement, el.__labTemplate);
    Plotly.react(el, figure.data || [], drawn.layout, config);
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
        pending = requestAnimationFrame(() => el.isConnected && el.classList.contains("js-plotly-plot") && Plotly.Plots.resize(el));
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
    if (window.Plotly && el.classList.contains("js-plotly-plot")) window.Plotly.purge(el);
  }, 0);
}
