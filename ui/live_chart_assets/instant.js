// The browser half of ui/instant.py: draws a preview's slider move from the table the server sent, in the same
// frame as the move, instead of waiting for the fragment's rerun (which still comes, with the same content).
//
// A binding is one slider (its widget key) and the table's version (its setting). On every change in the page
// (a MutationObserver: the slider's value, and anything Streamlit re-renders), `sync` reads the slider's value
// and, when the table has it, makes the page show that value: each slot (a cards block, `data-lab-slot`) whose
// tag is another value of the same version gets the table's markup, and each live chart gets the table's figure
// (its base figure with this value's patch). The tags say what is on screen, so the server's later rerun for
// the same value changes nothing, and a rerun for a value the slider has already left (a fast move) is
// replaced before the browser paints it (slots) or not drawn at all (charts: live_chart.js asks `stale`).
import { drawFigure, setGate } from "./live_chart.js";

const MAX_TABLES = 16;
const tables = new Map();  // version -> {base: {chart key: figure}, entries: {value: {slots, patches}}}
const bindings = new Map();  // slider key -> {slider, version}
let observer = null;

export function attach({ data }) {
  let spec;
  try {
    spec = JSON.parse(new TextDecoder().decode(data));
  } catch (err) {
    return;
  }
  if (spec.table) {
    tables.delete(spec.version);
    tables.set(spec.version, spec.table);
    while (tables.size > MAX_TABLES) tables.delete(tables.keys().next().value);
    window.__labInstantVersions = [...tables.keys()];  // the tables this page holds (tests, benchmarks)
  }
  bindings.set(spec.slider, { slider: spec.slider, version: spec.version });
  watch();
  sync(bindings.get(spec.slider));
}

function watch() {
  if (observer) return;
  setGate(stale);
  observer = new MutationObserver(() => bindings.forEach(sync));
  observer.observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true,
                                    attributeFilter: ["aria-valuetext", "value"] });
}

const versionOf = (tag) => (tag || "").split("|")[0];

// The table entry for the slider's value now: [tag, entry, table], or null (no table, no slider, a value not in it).
function wanted(binding) {
  const table = tables.get(binding.version);
  if (!table) return null;
  const input = document.querySelector(`.st-key-${CSS.escape(binding.slider)} input[type="range"]`);
  if (!input || input.value === "") return null;
  const value = String(Number(input.value));
  const entry = table.entries[value];
  return entry ? [`${binding.version}|${value}`, entry, table] : null;
}

function sync(binding) {
  const want = wanted(binding);
  if (!want) return;
  const [tag, entry] = want;
  for (const [slot, markup] of Object.entries(entry.slots)) {
    const el = document.querySelector(`[data-lab-slot="${CSS.escape(slot)}"]`);
    const shown = el && el.getAttribute("data-lab-tag");
    if (shown && shown !== tag && versionOf(shown) === binding.version) el.outerHTML = markup;
  }
  if (Object.keys(entry.patches).length && !binding.drawing) {  // the charts after the numbers are painted
    binding.drawing = true;
    requestAnimationFrame(() => soon(() => {
      binding.drawing = false;
      drawCharts(binding);
    }));
  }
}

// A task ahead of the page's other waiting tasks where the browser offers it (Chromium's scheduler.postTask): the
// server's rerun for the move arrives meanwhile, and Streamlit's handling of it (40-65 ms of script in a trace) can
// run first and hold the charts back. Measured: the charts' p50 10-20 ms sooner (docs/performance.md, seventh
// round). Elsewhere an ordinary task.
function soon(fn) {
  if (window.scheduler && typeof window.scheduler.postTask === "function") {
    window.scheduler.postTask(fn, { priority: "user-blocking" });
  } else {
    setTimeout(fn, 0);
  }
}

function drawCharts(binding) {  // every chart of the value, in one task once the numbers are painted
  const want = wanted(binding);  // the slider's value now: a fast drag draws only the last of its values
  if (!want) return;
  const [tag, entry, table] = want;
  for (const [key, changes] of Object.entries(entry.patches)) {
    const el = document.querySelector(`.st-key-${CSS.escape(key)} .lab-live-chart`);
    if (el && el.__labInstant && el.__labInstant !== tag && versionOf(el.__labInstant) === binding.version) {
      drawFigure(el, apply(table.base[key], changes), tag);
    }
  }
}

// live_chart.js's gate: whether the server's figure for `tag` is for a value the slider has left (then the
// table's figure for the slider's value is drawn instead).
function stale(el, tag) {
  for (const binding of bindings.values()) {
    if (binding.version !== versionOf(tag)) continue;
    const want = wanted(binding);
    if (!want || want[0] === tag) return false;
    queueMicrotask(() => sync(binding));  // the slider's value, from the table (the charts in the next frame)
    return true;
  }
  return false;
}

// ui/instant.py's `apply`: the base figure with one value's changes ([path, value] sets, [path] deletes).
export function apply(base, changes) {
  let out = structuredClone(base);
  for (const change of changes) {
    const path = change[0];
    if (!path.length) {
      out = structuredClone(change[1]);
      continue;
    }
    let target = out;
    for (const step of path.slice(0, -1)) target = target[step];
    if (change.length === 1) delete target[path[path.length - 1]];
    else target[path[path.length - 1]] = structuredClone(change[1]);
  }
  return out;
}
