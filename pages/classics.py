"""Classics: famous results reproduced here, the paper's table row beside ours, with the gap and what differs."""
import streamlit as st

from compress_core.classics.registry import all_classics, classic_spec, get_classic
from compress_core.classics.runs import latest_runs, one_per_seed
from compress_core.errors import CompressError
from compress_core.present.classics import compare_rows, lottery_figure, spread_table
from compress_core.runs import jobs
from ui import common

common.ensure_navigation()

P = "classics"
DATASETS = ("digits", "mnist")

st.title("Classics")
st.caption("Each classic runs a published procedure with the paper's settings scaled to this machine, as an ordinary "
           "run (it appears in Runs, Compare and the report), and puts the paper's numbers beside ours. On digits a "
           "classic takes a few minutes; on MNIST when its files are in the data folder.")
common.use_few_threads()

classics = all_classics()
names = [c.name for c in classics]
name = st.selectbox("Classic", names, key="classics_name", format_func=lambda n: get_classic(n).label)
classic = get_classic(name)
left, right = st.columns(2)
model = left.selectbox("Model (the paper's)", classic.models, key="classics_model",
                       index=classic.models.index(classic.default_model))
choices = list(dict.fromkeys((classic.default_dataset, *DATASETS)))
dataset = right.selectbox("Data set", choices, key="classics_dataset")
seed = int(left.number_input("Seed", 0, 2**31 - 1, 0, key="classics_seed",
                             help="a classic is run once per seed; several seeds give the spread"))
quick = right.checkbox("Quick (shortened settings, a first look)", key="classics_quick")

st.markdown(f"**{classic.label}**: {classic.citation}")
st.info(f"What differs here: {classic.differs}", icon=":material/difference:")
common.run_button("Run this classic", "classics_run", lambda: classic_spec(name, model, dataset, seed, quick), P)

mine = st.session_state.get(f"{P}_run_id")
try:
    run = jobs.get(mine, common.home()) if mine else None
except CompressError:  # deleted meanwhile
    run = None
if run is not None:
    if run["status"] in common.ACTIVE:
        common.live_progress(mine, P)
    elif run["status"] not in ("finished",):
        st.warning(f"Run {mine} was {run['status']}" + (f": {run['error']}" if run.get("error") else "."))

runs, quick_only = latest_runs(name, common.home(), model, dataset)
if not runs:
    st.info("No finished run of this classic on this model and data set yet: press Run.")
    st.stop()
latest = runs[0]
seeds = one_per_seed(runs)
st.subheader("The paper beside ours")
st.caption(f"Ours: run {latest['id']} (seed {latest['spec'].get('seed')})"
           + (" with the **quick** settings: shortened, so expect a larger gap" if quick_only else "")
           + f"; {len(seeds)} seed(s) finished. Gap = ours − the paper's.")
rows = compare_rows(list(classic.paper_rows(model)), list(classic.our_rows(latest)))
st.dataframe(rows, key="classics_table", hide_index=True)
if latest["kind"] == "lottery":
    common.chart(lottery_figure(seeds), key="classics_lottery_figure")
    st.caption("Mean over seeds, bars from the lowest to the highest seed; the dashed line is the dense network "
               "trained with the same epochs. Masks zero weights: nothing runs faster.")
    st.dataframe(spread_table(seeds), key="classics_spread", hide_index=True)
common.link_to_run(latest["id"], latest["kind"])
