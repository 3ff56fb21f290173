"""What every dashboard page shares: data and model pickers, uploads, the cached
baseline, submitting runs and following their progress, metric cards.

Pages stay thin: they read widgets, build a spec, call `submit`, and draw a finished
run with figures from `compress_core.plots`. Long work never runs here: training
happens in `compress_core.jobs` worker processes and pages poll the run store, so a
reload or a second tab shows the same runs. Heavy engine modules (torch) are imported
inside functions so the Home page starts fast.
"""
from __future__ import annotations

import codecs
import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import streamlit as st

from compress_core import fmt, paths
from compress_core.errors import CompressError
from compress_core.measure import catalogue
from compress_core.present import run_list
from compress_core.runs import jobs
from ui import access, cards, figures

if TYPE_CHECKING:
    import pandas as pd

UPLOAD = "your own file (.csv / .npz)…"
MAX_UPLOAD_MB = 50  # same as server.maxUploadSize in .streamlit/config.toml
POLL_S = 0.5  # how often a page re-reads a live run's progress
ACTIVE = run_list.ACTIVE  # statuses of runs still to finish


def home() -> Path:
    """The home folder (`$COMPRESS_LAB_HOME`, else ~/.compress_lab)."""
    return paths.home_dir()


def error_text(message: str | None) -> str:
    """A stored run error without the exception class name the worker prefixes for user errors."""
    text = str(message or "unknown error")
    return text.split(": ", 1)[1] if text.startswith(("CompressError: ", "RunCancelled: ")) else text


def show_error(exc: BaseException | str) -> None:
    st.error(error_text(str(exc)) if isinstance(exc, str) else str(exc), icon="⚠️")


@st.cache_resource(show_spinner=False)
def _resume_queued_runs(home_folder: str) -> int:
    """Once per server process: start workers for runs that were queued before a restart."""
    from compress_core.runs import jobs

    return len(jobs.ensure_workers(home_folder))


def open_run_store() -> None:
    """Check the run store before any page draws; a corrupt or foreign file stops with a clear error."""
    try:
        _resume_queued_runs(str(home()))
        jobs_keep_workers()
    except CompressError as exc:
        show_error(exc)
        st.stop()


def jobs_keep_workers() -> None:
    """Restart workers for queued runs whenever a page draws or polls (throttled in the engine)."""
    from compress_core.runs import jobs

    jobs.keep_workers(home())


def ensure_navigation() -> None:
    """Make a deep link work as the first request after the server starts.

    Streamlit treats an app with a `pages/` folder as a legacy multipage app until some
    run calls `st.navigation`; a first request for e.g. /prune then runs that page alone,
    without app.py's navigation and layout. Every page calls this first: it switches the
    legacy mode off (Streamlit's own `st.navigation` does the same) and reruns once per
    session, so app.py runs and opens the requested page. (Once per session, so a rerun
    can never swallow a button press.)
    """
    from streamlit.runtime.pages_manager import PagesManager  # internal: no public switch exists

    if getattr(PagesManager, "uses_pages_directory", False) and not st.session_state.get("_navigation_fixed"):
        PagesManager.uses_pages_directory = False
        st.session_state["_navigation_fixed"] = True
        st.rerun()
    access.sidebar()  # shared mode: viewer / operator sign-in, on every page
    cards.style()  # the preview cards' stylesheet, once per page run: a slider move sends only the cards


def use_few_threads() -> None:
    """Previews are tiny tensors: one thread answers faster than several fighting the workers for cores."""
    import torch

    if torch.get_num_threads() != 1:
        torch.set_num_threads(1)


# ---------------------------------------------------------------- uploads
def check_upload(name: str, data: bytes) -> str:
    """The file's suffix if it is an acceptable upload; CompressError naming the problem otherwise."""
    from compress_core.data.datasets import USER_FILE_SUFFIXES

    suffix = Path(name).suffix.lower()
    if suffix not in USER_FILE_SUFFIXES:
        raise CompressError(f"{name!r} has type {suffix or '(none)'}; allowed: {', '.join(USER_FILE_SUFFIXES)}")
    if len(data) > MAX_UPLOAD_MB * 1024 * 1024:
        raise CompressError(f"{name!r} is {fmt.size(len(data))}; the limit is {MAX_UPLOAD_MB} MB")
    if not data:
        raise CompressError(f"{name!r} is empty")
    if suffix == ".npz" and not data.startswith(b"PK"):
        raise CompressError(f"{name!r} is not an .npz archive (save one with numpy.savez(path, X=features, y=labels))")
    if suffix == ".csv":
        try:  # incremental: a multi-byte character cut at the end of the sample is not an error
            codecs.getincrementaldecoder("utf-8")().decode(data[:65536], final=False)
        except UnicodeDecodeError as exc:
            raise CompressError(f"{name!r} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    return suffix


def save_upload(data: bytes, suffix: str, home_folder: Path) -> Path:
    """Store an upload as `<home>/uploads/<sha256><suffix>`: named by content, never by the user's file name."""
    folder = home_folder / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{hashlib.sha256(data).hexdigest()}{suffix}"
    if not path.exists():
        from compress_core.runs.artifacts import atomic_write

        def write_and_check(tmp: Path) -> None:
            # unique temp name (concurrent saves of one upload never collide); a file refused by the
            # checks is removed with its temp file, so nothing unchecked stays in uploads/
            tmp.write_bytes(data)
            check_saved_upload(tmp, suffix)

        atomic_write(path, write_and_check)
    return path


def check_saved_upload(path: Path, suffix: str) -> None:
    """The loaders' size checks on a just-written upload: NPZ headers, CSV header width."""
    from compress_core.data import limits
    from compress_core.data.datasets import csv_column_count

    if suffix == ".npz":
        declared = limits.inspect_npz(path)
        if "X" not in declared or "y" not in declared:
            raise CompressError("an .npz upload must contain arrays 'X' and 'y'; "
                                f"found {', '.join(declared) or 'none'}")
        limits.check_npz_data_shapes(path, declared["X"], declared["y"])
    else:
        csv_column_count(path)


def upload_head(path: Path, rows: int = 5) -> pd.DataFrame:
    """The first rows of an uploaded file, to check it before use (npz: X flattened, first 12 columns, and y)."""
    import pandas as pd  # not at module level: Home with no runs draws without pandas (~0.3 s of a cold start)

    if path.suffix == ".csv":
        try:
            from compress_core.data.datasets import csv_column_count

            csv_column_count(path)  # refuse 200,000 columns before pandas builds a frame of them
            return pd.read_csv(path, nrows=rows)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as exc:
            raise CompressError(f"the file could not be read as CSV ({exc})") from None
    from compress_core.data.limits import npz_head

    try:  # reads the headers and only `rows` rows: a 5-row preview never unpacks a whole array
        x, y = npz_head(path, rows)
    except CompressError:
        raise
    except Exception as exc:  # any unreadable archive is the user's file, not a bug
        raise CompressError(f"the file could not be read as .npz ({type(exc).__name__}: {exc})") from None
    flat = x.reshape(len(x), -1)[:, :12]
    head = pd.DataFrame(flat, columns=[f"X[{i}]" for i in range(flat.shape[1])])
    head["y"] = y
    return head


def _upload(prefix: str) -> tuple[str, str] | None:
    """Upload widget, checks and preview; (saved path, label column) once the file is usable."""
    if not access.can_operate():
        access.viewer_line()
        return None
    file = st.file_uploader("Your data (.csv with a label column, or .npz with arrays X and y; "
                            f"at most {MAX_UPLOAD_MB} MB)",
                            type=["csv", "npz"], key=f"{prefix}_upload", max_upload_size=MAX_UPLOAD_MB)
    if file is None:
        st.info("Upload a file to use it. A CSV needs one label column; every other column must be numeric.")
        return None
    data = file.getvalue()
    try:
        suffix = check_upload(file.name, data)
        seen = st.session_state.setdefault("_session_uploads", {})  # sha -> bytes, counted once per file
        digest = hashlib.sha256(data).hexdigest()
        if digest not in seen:
            from compress_core.sharing import check_upload_quota

            check_upload_quota(len(data), sum(seen.values()), home() / "uploads")
        path = save_upload(data, suffix, home())
        seen[digest] = len(data)
        head = upload_head(path)
    except CompressError as exc:
        show_error(exc)
        return None
    st.caption(f"First rows of {file.name} ({fmt.size(len(data))}):")
    st.dataframe(head, hide_index=True, key=f"{prefix}_upload_head")
    label = "label"
    if path.suffix == ".csv":
        columns = [str(c) for c in head.columns]
        label = st.selectbox("Label column", columns, index=columns.index("label") if "label" in columns
                             else len(columns) - 1, key=f"{prefix}_label_column")
    if st.session_state.get(f"{prefix}_upload_sha") != path.stem:  # a new file needs a new look
        st.session_state[f"{prefix}_upload_sha"] = path.stem
        st.session_state[f"{prefix}_upload_confirm"] = False
    if not st.checkbox("The rows look right: use this file", key=f"{prefix}_upload_confirm"):
        return None  # nothing is trained on a file before its owner has seen it
    return str(path), label


# ---------------------------------------------------------------- data and models
def dataset_picker(prefix: str):
    """Data set selectbox (built-ins or an upload); returns (name or path, label column, Dataset) or None."""
    from compress_core.data.datasets import DATASETS, describe, load_dataset

    choice = st.selectbox("Data set", [*DATASETS.names(), UPLOAD], key=f"{prefix}_dataset",
                          help="Built-in data sets are read from the data folder; digits ships with scikit-learn.")
    name, label = choice, "label"
    if choice == UPLOAD:
        picked = _upload(prefix)
        if picked is None:
            return None
        name, label = picked
    try:
        data = load_dataset(name, paths.data_dir(), label)
    except CompressError as exc:
        show_error(exc)
        return None
    d = describe(data)
    st.caption(f"{d['n_train']:,} training / {d['n_test']:,} test rows · {d['num_classes']} classes · "
               f"input {'×'.join(map(str, d['input_shape']))} "
               f"({'images' if d['is_image'] else 'text, token ids' if d.get('is_text') else 'table'})")
    return name, label, data


def model_picker(prefix: str, data, *, key: str = "model", label: str = "Model", default: str = "lenet300",
                 default_hidden: str | None = "100") -> tuple[str, str | None]:
    """Model selectbox limited to models that fit the data; (name, hidden widths text or None).

    `default_hidden=None` leaves the widths of an mlp to the caller (no text box).
    """
    from compress_core.models.zoo import MODELS
    from ui import model_source

    choice = st.radio(f"{label} source", model_source.CHOICES, horizontal=True, key=f"{prefix}_{key}_source")
    if choice != model_source.CHOICES[0]:
        picked = st.session_state.get(f"{prefix}_dataset", "")
        return model_source.other_source(prefix, data, key, label, choice, home(), str(picked),
                                         st.session_state.get(f"{prefix}_label_column", "label"))
    options = [n for n in MODELS.names() if (data.is_image or not MODELS.get(n).needs_image)
               and getattr(data, "is_text", False) == MODELS.get(n).needs_text]  # text data: text models only
    name = st.selectbox(label, options, index=options.index(default) if default in options else 0,
                        key=f"{prefix}_{key}",
                        help=None if data.is_image else "CNNs (lenet5, resnet8) need image data and are not offered "
                                                        "for a table.")
    if getattr(data, "is_text", False):  # a local Hugging Face folder instead of a built-in (hf:DIR)
        folder = st.text_input(f"{label}: or a local Hugging Face folder (save_pretrained)", value="",
                               key=f"{prefix}_{key}_hf").strip()
        if folder:
            return f"hf:{folder}", None
    entry = MODELS.get(name)
    st.caption(entry.description)
    hidden = None
    if entry.takes_hidden and default_hidden is not None:
        hidden = st.text_input(f"{label}: hidden widths (comma-separated)", value=default_hidden,
                               key=f"{prefix}_{key}_hidden")
    return name, hidden


def source_options(prefix: str, key: str = "model") -> dict:
    """Spec fields (weights, normalize, resize) of the model source picked by `model_picker`."""
    from ui import model_source

    return model_source.options(prefix, key)


def picked_data(prefix: str):
    """`dataset_picker`, stopping the page while no data set is usable: (name or path, label column, Dataset)."""
    picked = dataset_picker(prefix)
    if picked is None:
        st.stop()
    return picked


def data_and_model(prefix: str):
    """The settings column's usual start: (data set, label column, model, hidden widths text)."""
    dataset, label_column, data = picked_data(prefix)
    model, hidden = model_picker(prefix, data)
    return dataset, label_column, model, hidden


def seed_and_baseline_epochs(prefix: str, trained: str = "Baseline") -> tuple[int, int]:
    """The "Advanced" expander: seed, and epochs of the trained reference model (0: the data set's default)."""
    with st.expander("Advanced"):
        seed = st.number_input("Seed", 0, 2**31 - 1, 0, key=f"{prefix}_seed")
        epochs = st.number_input(f"{trained} epochs (0: the data set's default)", 0, 1000, 0,
                                 key=f"{prefix}_{trained.lower()}_epochs")
    return seed, epochs


# ---------------------------------------------------------------- baseline
@st.cache_resource(show_spinner=False, max_entries=8)
def _load_baseline(spec_json: str, home_folder: str):
    from compress_core.context import RunContext
    from compress_core.methods.registry import spec_from_dict
    from compress_core.training.baseline import get_baseline

    return get_baseline(spec_from_dict(json.loads(spec_json)), RunContext.create(home=home_folder))


def _spec_json(spec) -> str:
    return json.dumps(spec.to_dict(), sort_keys=True)


def cached_baseline(spec):
    """The baseline of `spec` from the shared cache if its weights are on disk, else None.

    Never trains and draws nothing (the warm-up thread calls it).
    """
    from compress_core.context import RunContext
    from compress_core.present.preview import baseline_is_cached

    ctx = RunContext.create(home=home())
    return _load_baseline(_spec_json(spec), str(ctx.home)) if baseline_is_cached(spec, ctx) else None


def baseline(spec, prefix: str, train: bool = True):
    """The cached baseline of `spec` (a TrainSpec), or None while a background run trains it.

    The first request queues one training run (never two for the same spec) and shows
    its progress; the page reruns by itself once the weights are cached. With
    `train=False` a missing baseline just gives None.
    """
    from compress_core.context import RunContext
    from compress_core.present.preview import baseline_is_cached

    ctx = RunContext.create(home=home())
    try:
        if baseline_is_cached(spec, ctx):
            return _load_baseline(_spec_json(spec), str(ctx.home))
    except CompressError as exc:
        show_error(exc)
        return None
    if not train:
        return None
    wanted = spec.to_dict()
    runs = [r for r in jobs.open_store(ctx.home).list_runs(kind="train") if r["spec"] == wanted]
    run = runs[0] if runs else None
    if run is not None and run["status"] in ("failed", "interrupted", "cancelled"):
        why = error_text(run.get("error")).removeprefix(f"{run['status']}: ")
        show_error(f"The baseline's training run was {run['status']}: {why}")
        if not st.button("Train the baseline again", key=f"{prefix}_train_baseline"):
            return None
        run = None
    if run is None or run["status"] == "finished":  # finished but no weights: the cache was deleted
        if not access.can_operate():  # a viewer never queues work, not even a baseline
            st.info("The baseline of these settings is not trained yet; an operator's first run trains it.")
            access.viewer_line()
            return None
        try:
            run = jobs.get(jobs.submit(wanted, home=ctx.home), ctx.home)
        except CompressError as exc:
            show_error(exc)
            return None
    st.info("Training the baseline once for the instant preview; it is cached for every later run and preview.")
    live_progress(run["id"], f"{prefix}_baseline", cancel=False)
    return None


@st.cache_data(show_spinner=False, max_entries=16)
def baseline_weights(key: str, _model) -> tuple:
    """(bin edges, counts) of the baseline's prunable weights; `key` identifies the baseline."""
    import numpy as np

    from compress_core.present.preview import histogram, histogram_edges, prunable_weights

    weights = np.concatenate(list(prunable_weights(_model).values()))
    edges = histogram_edges(weights)
    return edges, histogram(weights, edges)


@st.cache_resource(show_spinner=False, max_entries=16)
def load_weights(path: str, mtime: float) -> dict:
    """A run's saved state dict (tensors only: weights_only=True); `mtime` invalidates a rewritten file."""
    from compress_core.runs.artifacts import load_state  # one line for a missing or corrupted file

    return load_state(path)


# ---------------------------------------------------------------- runs
def submit(spec, prefix: str) -> str | None:
    """Queue `spec` for a worker and make it this page's current run (also in the URL, so a reload keeps it)."""
    if not access.can_operate():
        access.viewer_line()
        return None
    try:
        mine = st.session_state.setdefault("_session_run_ids", [])
        if access.is_shared():  # the per-session cap; the global queue cap is the engine's
            from compress_core.sharing import check_session_runs

            store = jobs.open_store(home())
            check_session_runs(sum(1 for i in mine if _status_or_none(store, i) in ACTIVE))
        from ui.backend import chosen  # local workers, or a Ray cluster when the sidebar says so

        backend = chosen()
        if backend is None:
            run_id = jobs.submit(spec.to_dict(), home=home())
        else:
            run_id = backend.create(spec.to_dict(), home())
            backend.start([run_id], home())
    except CompressError as exc:
        show_error(exc)
        return None
    mine.append(run_id)
    st.session_state[f"{prefix}_run_id"] = run_id
    st.query_params["run"] = run_id
    return run_id


def _status_or_none(store, run_id: str) -> str | None:
    try:
        return store.get(run_id)["status"]
    except CompressError:  # deleted meanwhile
        return None


def spec_or_stop(build_spec: Callable[[], object]):
    """The spec the settings describe; a user error is shown and stops the page."""
    try:
        return build_spec()
    except CompressError as exc:
        show_error(exc)
        st.stop()


def run_button(label: str, key: str, build_spec: Callable[[], object], prefix: str, where=st, **button) -> None:
    """A primary button (in `where`, e.g. a column) that submits the spec built when pressed."""
    if not access.can_operate():
        button = {**button, "disabled": True, "help": access.VIEWER_LINE}
        access.viewer_line(where)
    if where.button(label, type="primary", key=key, **button):
        try:
            submit(build_spec(), prefix)
        except CompressError as exc:
            show_error(exc)


def current_run(prefix: str, kind: str) -> dict | None:
    """The run this page shows: from the URL, else this session's last submission, else the newest of `kind`."""
    store = jobs.open_store(home())
    for wanted in (st.query_params.get("run"), st.session_state.get(f"{prefix}_run_id")):
        if not wanted:
            continue
        try:
            run = store.get(wanted)
        except CompressError:
            continue
        if run["kind"] == kind:
            return run
    runs = store.list_runs(kind=kind)
    return runs[0] if runs else None


def progress_state(run: dict) -> tuple[float, str]:
    """(fraction done in the current stage, text) of a queued or running run."""
    if run["status"] == "queued":
        return 0.0, "queued: waiting for a free worker"
    p = run.get("progress") or {}
    total, step = p.get("total") or 0, p.get("step") or 0
    stage, message = p.get("stage") or "starting", p.get("message") or ""
    text = message if message.startswith(stage) else f"{stage}: {message or 'starting'}"
    accuracy = (p.get("metrics") or {}).get("test_accuracy")
    if accuracy is not None:
        text += f" · test accuracy {fmt.pct(accuracy)}"
    return (min(1.0, step / total) if total else 0.0), text


@st.fragment(run_every=POLL_S)
def live_progress(run_id: str, prefix: str, cancel: bool = True) -> None:
    """Progress bar of a live run, re-read from the store every POLL_S; reruns the page when the run ends."""
    jobs_keep_workers()  # a killed worker is replaced while someone watches, not at the next submission
    run = jobs.get(run_id, home())
    if run["status"] not in ACTIVE:
        st.rerun()
    value, text = progress_state(run)
    st.progress(value, text=text)
    if cancel and access.can_operate() and st.button("Cancel this run", key=f"{prefix}_cancel"):
        jobs.cancel(run_id, home())
        st.rerun()


def run_page(kind: str) -> str | None:
    """The page that draws a run of `kind` (from the method registry); it opens the run given as `?run=<id>`."""
    from compress_core.methods.labels import KINDS

    if kind in KINDS:  # built-in kinds: no registry discovery (it imports every method and torch)
        return KINDS[kind].page
    from compress_core.methods.registry import get_method, kinds

    return get_method(kind).page if kind in kinds() else None


def run_url(run_id: str, kind: str) -> str | None:
    """Relative URL of the page showing `run_id` (e.g. 'prune?run=r2025...'), None for kinds without a page."""
    page = run_page(kind)
    return f"{Path(page).stem}?run={run_id}" if page else None


def link_to_run(run_id: str, kind: str, label: str | None = None) -> None:
    """A link that opens `run_id` on its method's page; a caption for kinds that have no page (train, pipeline)."""
    if run_page(kind):
        st.page_link(run_page(kind), label=label or f"Open run {run_id} in the {kind.capitalize()} page",
                     query_params={"run": run_id}, icon=":material/open_in_new:")
    else:
        st.caption(f"Run {run_id} is a {kind} run: no page draws it (see the Runs page).")


def show_run(run: dict | None, prefix: str, draw: Callable[[dict], None]) -> None:
    """Header, then live progress, the error, or `draw(run)` for a finished run."""
    if run is None:
        st.info("No run yet: choose the settings above and press Run.")
        return
    from compress_core.present.plots import METHOD_LABELS, method_of, run_setting

    spec = run.get("spec") or {}
    st.subheader(f"Run {run['id']}")
    st.caption(f"{METHOD_LABELS.get(method_of(run['kind'], spec), run['kind'])} · {run_setting(run['kind'], spec)} · "
               f"{spec.get('model')} on {Path(str(spec.get('dataset'))).name} · status **{run['status']}**"
               + (f" · took {run['metrics']['duration_s']:.1f} s" if (run.get("metrics") or {}).get("duration_s")
                  else ""))
    if run["status"] in ACTIVE:
        live_progress(run["id"], prefix)
    elif run["status"] == "finished":
        draw(run)
        from ui.explain import explain_section  # per-class changes, forgotten examples, layer attribution

        explain_section(run, prefix)
        for note in run.get("notes") or []:
            st.caption(f"Note: {note}")
    elif run["status"] == "failed":
        show_error(run.get("error"))
    else:
        st.warning(f"This run was {run['status']}" + (f": {run['error']}" if run.get("error") else "."))
    with st.expander("Spec of this run (replay it with compress_core.run(spec) or the CLI)"):
        st.json(spec)


def _signed_change(delta: str | None) -> bool:
    """A delta like '+0.4 pp' is a change (coloured green/red); '+0.0 pp' or 'fp32 205 kB' is context (grey)."""
    return bool(delta) and delta[0] in "+-−" and any(c in "123456789" for c in delta.split(" ")[0])


def card(label: str, value: str, delta: str | None = None, help_text: str | None = None) -> None:
    """A bordered metric; a signed delta is coloured, any other delta is grey context without an arrow."""
    change = _signed_change(delta)
    st.metric(label, value, delta, help=help_text, border=True, delta_color="normal" if change else "off",
              delta_arrow="auto" if change else "off")


def metric_grid(cards: list[tuple], per_row: int = 4) -> None:
    """Metric cards (label, value, delta or None, help or None), `per_row` to a row."""
    for start in range(0, len(cards), per_row):
        for col, args in zip(st.columns(per_row), cards[start:start + per_row]):
            with col:
                card(*args)


def card_block(cards_: list[tuple], per_row: int = 1, slot: str | None = None, tag: str | None = None) -> None:
    """Cards like `card`'s (label, value, delta or None, help or None) as ONE element (ui/cards.py), for fragments
    (`slot`, `tag`: an instant preview's block, ui/instant.py)."""
    cards.show(cards_, per_row, slot, tag)


def preview_slot(key: str) -> str:
    """The instant-preview slot name of the cards drawn beside chart `key` by `preview_layout`."""
    return f"{key}_cards"


def preview_layout(cards: list[tuple], fig, key: str, tag: str | None = None) -> Callable[[list[tuple]], None]:
    """Preview cards stacked beside their chart: cards stay wide enough to read next to a settings column.

    Returns a function that draws new cards in the same place (the same element, replaced): a progressive
    preview fills in a number that arrives after the rest (ui/preview_cache.py `wait`). `tag`: the slider value
    of an instant preview (ui/instant.py); its cards are the slot `preview_slot(key)`."""
    left, right = st.columns([1, 2.2])
    with left:
        slot = st.empty()

        def draw_cards(new_cards: list[tuple]) -> None:
            with slot.container():  # one element for all the cards: fewer deltas and re-renders per slider move
                card_block(new_cards, slot=preview_slot(key), tag=tag)

        draw_cards(cards)
    with right:
        chart(fig, key, tag=tag)  # redrawn on every slider move: updated in place (ui/live_chart.py)
    return draw_cards


def chart(fig, key: str, tag: str | None = None) -> None:
    figures.chart(fig, key, tag=tag)  # its modebar saves a 2x PNG; lecture-mode fonts; counted in the Learn page's lesson zips


def similar_runs(kind: str, spec: dict, status=None) -> list[dict]:
    """Runs of `kind` with the same model, hidden widths, data set and label column as `spec` (a dict)."""
    keys = ("model", "hidden", "dataset", "label_column")
    return [r for r in jobs.open_store(home()).list_runs(kind=kind, status=status)
            if all(r["spec"].get(k) == spec.get(k) for k in keys)]


def latest_runs_table(limit: int = 8, key: str = "home_runs") -> bool:
    """The newest runs as a static table (Home): no pandas, no data grid (compress_core/present/run_list.py says why);
    the Runs page has the sortable grid of every run. Draws nothing and returns False when the lab has no run."""
    from compress_core.methods.registry import describe

    runs = jobs.open_store(home()).list_runs(limit=limit)
    if not runs:
        return False
    # One line per run, as the grid had it: small type, no wrapping, scrolled sideways when wider than the page.
    st.html(f"<style>.st-key-{key} table{{display:block;overflow-x:auto;font-size:.875rem}}"
            f".st-key-{key} th,.st-key-{key} td{{white-space:nowrap;padding:.25rem .625rem}}</style>")
    with st.container(key=key):
        st.markdown(run_list.markdown_table(run_list.run_cells(run, method_label, describe) for run in runs))
        st.caption("Accuracy: top-1 on the test split. vs baseline: the change from the dense baseline, in "
                   "percentage points. Smallest size: the model as it would be deployed. Every run, sortable, "
                   "with the accuracy–size chart: Runs.")
    return True


def recent_runs(limit: int | None = None, **filters):
    """Tidy rows of the newest runs (any status), newest first."""
    from compress_core.present.plots import run_points

    return run_points(jobs.open_store(home()).list_runs(limit=limit, **filters))


def method_label(key: str) -> str:
    """A run's method label: built-in kinds from the torch-free table, others from the registries."""
    from compress_core.methods.labels import method_label as built_in

    label = built_in(key)
    if label is None:
        from compress_core.present.plots import METHOD_LABELS  # discovers every method: imports torch

        label = METHOD_LABELS.get(key, key)
    return label


def runs_table(points: pd.DataFrame, key: str, columns: list[str] | None = None):
    """Runs as a table with units: accuracy in %, change in percentage points, sizes in kB/MB."""
    import pandas as pd

    table = pd.DataFrame({
        "run": points["id"],
        "method": [method_label(m) for m in points["method"]],
        "setting": points["setting"],
        "status": points["status"],
        "progress": points["progress"].where(points["status"].isin(ACTIVE)),
        "model": points["model"],
        "data set": [Path(str(d)).name if d else "" for d in points["dataset"]],
        "accuracy": 100 * points["accuracy"].astype("float64"),
        "vs baseline": 100 * points["accuracy_change"].astype("float64"),
        "size": [f"{fmt.size(s)} ({e})" if e else "" for s, e in zip(points["size_bytes"], points["size_form"])],
        "smaller by": points["compression_ratio"].astype("float64"),
        "created": points["created_at"],
    })
    if columns is None and not points["status"].isin(ACTIVE).any():
        columns = [c for c in table.columns if c != "progress"]  # nothing running: no progress column
    return st.dataframe(table, hide_index=True, key=key, column_order=columns, placeholder="–", column_config={
        "progress": st.column_config.ProgressColumn("progress", min_value=0.0, max_value=1.0,
                                                    help="share of the current stage done (running runs)"),
        "accuracy": st.column_config.NumberColumn("accuracy (%)", format="%.2f", help="top-1 test accuracy"),
        "vs baseline": st.column_config.NumberColumn("vs baseline (pp)", format="%+.2f",
                                                     help="accuracy change from the dense baseline, percentage points"),
        "size": st.column_config.TextColumn("smallest size", help=catalogue.metric("size_bytes").help),
        "smaller by": st.column_config.NumberColumn("smaller by (×)", format="%.2f",
                                                    help=catalogue.metric("compression_ratio").help),
        "created": st.column_config.DatetimeColumn("created (UTC)", format="YYYY-MM-DD HH:mm:ss"),
    })
