"""The Learn page's lesson "Lottery tickets" (Frankle & Carbin 2019), measured on the teaching model.

Its own module so the rest of the Learn page can change without touching it: `pages/learn.py`
calls `lesson(base, try_it)` once. The measurement (`compress_core.present.teach_lottery`) runs on
click, a few seconds on 2 cores, and is cached across sessions with `st.cache_data` per baseline
and settings, so a class of students pays for it once.
"""
from __future__ import annotations

import json
from typing import Callable

import pandas as pd
import streamlit as st

from compress_core import fmt
from compress_core.classics.lottery_ticket import PAPER
from compress_core.present import teach_lottery as tl
from compress_core.present import teach_predict as tp
from ui import common, predict

P = "learn_lottery"


@st.cache_data(show_spinner=False, max_entries=4)
def curves(key: str, _base, settings: str) -> pd.DataFrame:
    """The lesson's measurement for baseline `key` and `settings` (JSON of `LotterySettings`), once per server."""
    return tl.lottery_curves(_base.model, _base.data, tl.LotterySettings(**json.loads(settings)))


def measured(base, settings: tl.LotterySettings = tl.LESSON) -> pd.DataFrame:
    with st.spinner(f"Training {2 * settings.rounds + 1} networks ({settings.epochs} epochs each, a few seconds)…"):
        return curves(base.info["key"], base, json.dumps(tl.settings_dict(settings), sort_keys=True))


def _show() -> None:
    st.session_state[f"{P}_shown"] = True


def _paper_claim() -> str:
    winning = [pct for variant, pct, verdict in PAPER if variant == "winning ticket"]
    reinit = [pct for variant, pct, _ in PAPER if variant == "random re-init"]
    return (f"in the paper (LeNet-300-100 on MNIST, 20 % of each layer per round) tickets at {max(winning):g} % of "
            f"the weights beat the dense network, still match it at {min(winning):g} %, while the same masks "
            f"randomly re-initialised fall below it already at {reinit[0]:g} %")


@st.fragment
def lesson(base, try_it: Callable[[str, str, dict, str], None]) -> None:
    """Draw the lesson; `try_it` is the Learn page's button that opens another page preset."""
    settings = tl.LESSON
    st.subheader("Lottery tickets: is it the mask, or the initial weights?")
    st.markdown("Frankle & Carbin (2019) train a dense network, remove the smallest weights, **reset the survivors "
                "to the values they had at initialisation** and train again, round after round. The sparse "
                "network that results (a *winning ticket*) trains to the dense network's accuracy, and the same "
                "mask with *freshly drawn* initial weights does not: the mask and its original initial weights "
                f"belong together. Their claim: {_paper_claim()}.")
    st.latex(r"\theta_0 \sim \mathcal{D};\quad \text{train } f(x;\, m \odot \theta_0) \to \theta_j;\quad "
             r"m \leftarrow m \cdot \mathbb{1}\!\left[|\theta_j| > t\right];\quad \text{reset to } m \odot \theta_0"
             r"\ \text{(control: } m \odot \theta_0',\ \theta_0' \sim \mathcal{D}\text{)}")
    st.caption(f"Here, small on purpose so it runs in seconds: {settings.describe()}. The dense point is the same "
               "architecture trained from the same initial weights with the same epochs. Masks zero weights; "
               "nothing runs faster.")
    if not st.session_state.get(f"{P}_shown"):
        st.button(f"Measure it here ({2 * settings.rounds + 1} trainings, a few seconds)", key="learn_lottery_measure",
                  icon=":material/play_arrow:", on_click=_show)
    else:
        table = measured(base, settings)
        common.chart(tl.lottery_figure(table, settings), key="learn_lottery_curves")
        st.markdown("**What our measurement shows.** " + tl.summary_text(tl.summary(table)))
        st.caption("Honest limits: one seed, a small data set (1,347 training and 450 test digits) and short "
                   "trainings. The intervals treat the two accuracies as independent, which is conservative: the "
                   "two networks are tested on the same images. The Classics page runs the paper's procedure "
                   "(20 % per round, 15 rounds, a random-mask control too) as a background run, over several "
                   "seeds if you ask.")
    try_it("the paper's procedure on the Classics page", "pages/classics.py",
           {"classics_name": "lottery-ticket", "classics_model": "lenet300", "classics_dataset": "digits",
            "classics_quick": False}, "learn_lottery_try")
    question(base, settings)


def question(base, settings: tl.LotterySettings = tl.LESSON) -> None:
    """At the sparsest round, how many points does the ticket lead the re-initialised control by?"""
    left = (1 - settings.rate) ** settings.rounds

    def details(m, _guess) -> None:
        st.caption(f"Measured (the lesson's curves above): at {fmt.pct(m['remaining'])} of the weights the rewound "
                   f"ticket reaches {fmt.pct(m['ticket'])} and the re-initialised control {fmt.pct(m['reinit'])}; the "
                   f"gap is {'beyond' if m['beyond_noise'] else 'within'} noise on 450 test images.")

    predict.ask("learn_predict_lottery",
                f"After {settings.rounds} rounds (about {fmt.pct(left, 1)} of the weights left), how many points "
                "above the re-initialised control will the rewound ticket be? (Negative: below it.)",
                slider=dict(min_value=-20, max_value=60, value=0, step=1, format="%+d points"),
                measure=lambda: tp.last_round_gap(measured(base, settings)),
                judge=lambda g, m: tp.judge_number(g / 100, m["gap"], tolerance=0.03, show=fmt.pp,
                                                   unit_gap=lambda v: f"{100 * v:.1f} points"),
                details=details, spinner="Measuring the lottery curves (a few seconds)…",
                note="Committing runs the lesson's measurement if it has not run yet.")
