"""Learn: what pruning, distillation and quantization do, each idea in a few sentences, its formula and a
figure you can move, computed on a real small model (LeNet-300-100 on the 8x8 digits)."""
from pathlib import Path

import streamlit as st
import torch

from compress_core import fmt
from compress_core.context import RunContext
from compress_core.errors import CompressError
from compress_core.models.zoo import prunable_layers
from compress_core.present import plots, teach, teach_pruning
from compress_core.runs import jobs
from compress_core.training.loop import evaluate, predict_logits
from ui import cards, common, figure_cache, figures, instant, learn_quantization, lecture, preview_cache, profile

common.ensure_navigation()

P = "learn"
SPEED_BATCH = 256  # large enough that compute, not per-call overhead, dominates the latency of this small model

st.title("Learn")
st.caption("How model compression works, one idea at a time: a few sentences, the formula, and a figure that moves "
           "with its controls. Every figure is computed on a real model, LeNet-300-100 (two hidden layers of 300 and "
           "100 units) trained on scikit-learn's 8×8 handwritten digits, with the same code the runs use. Each "
           "section ends with a button that opens the matching page with these settings filled in.")
common.use_few_threads()


# ---------------------------------------------------------------- the model and cached derived data
def teaching_baseline():
    """The cached LeNet-300-100 on digits; trained here on first use (seconds on 2 cores), with a progress bar."""
    from compress_core.training.baseline import get_baseline

    spec = teach.TEACHING_SPEC
    base = common.baseline(spec, P, train=False)
    if base is not None:
        return base
    bar = st.progress(0.0, text="Training the digits model once for these lessons; it is cached for every later visit")

    def on_progress(event) -> None:
        accuracy = event.metrics.get("test_accuracy")
        bar.progress(min(1.0, event.step / event.total) if event.total else 0.0,
                     text=f"Training LeNet-300-100 on digits: epoch {event.step} of {event.total}"
                          + (f" · test accuracy {fmt.pct(accuracy)}" if accuracy is not None else ""))

    try:
        get_baseline(spec, RunContext.create(home=common.home(), on_progress=on_progress))
    except CompressError as exc:
        common.show_error(exc)
        st.stop()
    bar.empty()
    return common.baseline(spec, P, train=False)


@st.cache_data(show_spinner=False, max_entries=4)
def logits_of(key: str, _base) -> tuple:
    """(teacher's test logits, an untrained student's test logits) of the baseline `key`."""
    data = _base.data
    student = teach.untrained_student(data.input_shape, data.num_classes)
    return predict_logits(_base.model, data.x_test), predict_logits(student, data.x_test)


@st.cache_data(show_spinner=False, max_entries=4)
def quantized_accuracy(key: str, _base):
    return teach.accuracy_vs_bits(_base.model, _base.data.x_test, _base.data.y_test)


@st.cache_data(show_spinner=False, max_entries=32)
def speed(key: str, _base, amount: float, measurement: int):
    """Measured once per amount; `measurement` changes when the user asks to time again."""
    repeats = RunContext.create(home=common.home()).latency_repeats  # $COMPRESS_LAB_LATENCY_REPEATS, as in runs
    return teach.speed_comparison(_base.model, _base.data.input_shape, amount, SPEED_BATCH, repeats)


@st.cache_data(show_spinner=False, max_entries=512, ttl=3600)
def pruning_numbers(key: str, _base, amount: int, scope: str) -> dict:
    """What the pruning lesson shows for one slider value, cached across sessions (`key`: preview_cache.key_of):
    accuracy, parameter counts, file sizes, the histogram's counts and the shown units' pruned weights, a few kB.
    Measured through the engine on the lesson's masked copy of the model (`teach_pruning.PruningLesson`: the
    numbers of a pruned copy, `prune_to` then evaluate and serialize, like a run before fine-tuning)."""
    lesson = pruning_model(key, _base)
    with preview_cache.slot():
        return lesson.numbers(amount / 100, scope, _base.data.x_test, _base.data.y_test,
                              pruning_units(key, _base)["units"])


@st.cache_resource(show_spinner=False, max_entries=4)
def pruning_model(key: str, _base) -> teach_pruning.PruningLesson:
    """The lesson's masked copy of the baseline and its sorted magnitudes (once per baseline, for every session)."""
    return teach_pruning.PruningLesson(_base.model)


@st.cache_data(show_spinner=False, max_entries=4)
def pruning_units(key: str, _base) -> dict:
    """What does not move with the slider: the 6 units shown and the dense first layer's weights of them."""
    before = teach.first_layer(_base.model)
    units = teach.strongest_units(before, 6)
    return {"units": units, "dense": before[units].numpy()}


EQUAL_PARAMS_EPOCHS = 2


@st.cache_data(show_spinner=False, max_entries=32)
def equal_params(key: str, _base, amount: float, epochs: int):
    """Structured vs unstructured at equal kept parameters (fine-tuned when `epochs` > 0), once per amount."""
    return teach.equal_params_accuracy(_base.model, _base.data, amount, epochs)


@st.cache_data(show_spinner="Pruning and fine-tuning three times…", max_entries=8)
def schedules(key: str, _base, final: float):
    return teach.schedule_comparison(_base.model, _base.data, final)


def finished_runs() -> list[dict]:
    """Finished runs with every spec field filled in (a run recorded from a partial spec dict lacks defaults)."""
    from compress_core.present.report import full_spec

    runs = jobs.open_store(common.home()).list_runs(status="finished")
    return [{**run, "spec": full_spec(run["spec"])} for run in runs]


def try_it(label: str, page: str, settings: dict, key: str) -> None:
    """A button that opens `page` with its widgets preset: `settings` maps that page's widget keys to values."""
    if lecture.on():
        return  # a secondary control: lecture mode shows the idea, not the way to a run
    if st.button(f"Try it on a real run: {label}", key=key, icon=":material/science:"):
        for name, value in settings.items():
            st.session_state[name] = value
        st.switch_page(page)


def baseline_epochs() -> int:
    """The other pages' 'baseline epochs' box value for the teaching baseline (0: the data set's default)."""
    return teach.TEACHING_SPEC.epochs or 0


base = teaching_baseline()
if base is None:
    st.stop()
KEY = base.info["key"]
ACC0 = base.info["accuracy"]
st.caption(f"The model: {fmt.count(sum(p.numel() for p in base.model.parameters()))} parameters, "
           f"{fmt.pct(ACC0, 2)} top-1 accuracy on {len(base.data.y_test)} held-out test digits.")

# ---------------------------------------------------------------- pruning
def pruning_lesson() -> None:
    """The lesson's fixed text, then the fragment a slider move reruns (only what changes), then its question."""
    pruning_intro()
    pruning_panel()
    st.fragment(predict_questions.pruning)(base)  # its own fragment: a guess reruns the question, not the figures


def pruning_intro() -> None:
    st.subheader("Magnitude pruning: a mask of zeros")
    st.markdown("Pruning sets weights to zero. Magnitude (L1) pruning keeps the weights with the largest |w| and "
                "zeroes the rest: a mask **M** of 0s and 1s multiplies the weights element by element. With *global* "
                "scope one threshold *t* holds for every layer; with *per-layer* scope each layer loses the same share.")
    st.latex(r"W' = W \odot M,\qquad M_{ij} = \begin{cases} 1 & |W_{ij}| > t \\ 0 & |W_{ij}| \le t \end{cases}"
             r"\qquad t:\ \text{a share } p \text{ of the weights has } |W_{ij}| \le t")


@st.fragment
@instant.builds_after
@profile.timed("learn")
def pruning_panel() -> None:
    c = st.columns([2, 1])
    amount = c[0].slider("Share of weights removed, p", 0, 99, 70, 1, format="%d%%", key="learn_prune_amount")
    scope = c[1].radio("Scope", ("global", "layer"), key="learn_prune_scope", horizontal=True,
                       captions=["one threshold t", "same share per layer"])
    profile.mark("widgets")
    preview_key = preview_cache.key_of(base)
    shown = pruning_numbers(preview_key, base, amount, scope)
    profile.mark("engine")
    # every p drawn ahead in the browser (ui/instant.py): cards and both figures
    binding = instant.bind("learn_prune_amount", (preview_key, scope), amount)
    tag = instant.tag(binding)
    common.card_block(pruning_cards(shown), per_row=4, slot=PRUNING_CARDS, tag=tag)
    profile.mark("cards")
    hist, images = pruning_figures(preview_key, amount, scope, shown)
    profile.mark("histogram figure")
    figures.show(hist, key="learn_prune_hist", tag=tag)
    profile.mark("histogram draw")
    st.markdown("Each hidden unit of the first layer has one weight per input pixel, so its 64 weights form an "
                "8×8 image: the pattern of ink that makes the unit fire (red) or stay quiet (blue). Pruning blanks "
                "the pixels whose weights are small; what is left is the part of the pattern that matters most.")
    figures.show(images, key="learn_prune_units", tag=tag)
    profile.mark("units draw")
    st.caption("The 6 units shown have the largest incoming weights. Pruning alone costs accuracy at high p; "
               "a few epochs of fine-tuning with the mask fixed win most of it back (try it).")
    try_it(f"L1 pruning, {amount} %, {scope}", "pages/prune.py",
           {"prune_dataset": "digits", "prune_model": "lenet300", "prune_method": "l1", "prune_scope": scope,
            "prune_schedule": "oneshot", "prune_amount": amount, "prune_baseline_epochs": baseline_epochs()},
           key="learn_prune_try")
    profile.mark("rest")
    instant.offer(binding, range(0, 100), lambda p: pruning_entry(preview_key, p, scope, binding))


PRUNING_CARDS = "learn_prune_cards"  # the instant preview's slot of the pruning lesson's cards


def pruning_cards(shown: dict) -> list[tuple]:
    accuracy, total, nonzero = shown["accuracy"], shown["total"], shown["nonzero"]
    dense_bytes, sparse_bytes = shown["dense_bytes"], shown["sparse_bytes"]
    return [  # one element for the four cards (ui/cards.py)
        ("Accuracy right after pruning", fmt.pct(accuracy), fmt.pp(accuracy - ACC0),
         f"top-1 on the test digits, no fine-tuning; the dense model has {fmt.pct(ACC0, 2)}"),
        ("Parameters left (non-zero)", fmt.count(nonzero), f"of {fmt.count(total)}",
         "weights and biases; biases are never pruned"),
        ("Compression, params", fmt.ratio(total / max(nonzero, 1)), None,
         "total parameters / non-zero parameters: ignores that a sparse file must also store where the non-zeros are"),
        ("Compression in bytes", fmt.ratio(dense_bytes / sparse_bytes), f"{fmt.size(sparse_bytes)} file",
         f"the dense fp32 file ({fmt.size(dense_bytes)}) / the sparse file: a bitmap of positions (1 bit per weight) "
         "plus the non-zero fp32 values, measured by encoding it"),
    ]


def pruning_figures(preview_key: str, amount: int, scope: str, shown: dict) -> tuple:
    """The histogram and the units' images at `amount`, shared by every session (ui/figure_cache.py: the setting
    names them)."""
    hist = figure_cache.shared(("learn_prune_hist", preview_key, amount, scope),
                               lambda: teach.histogram_figure(shown["hist"], scope))
    units = pruning_units(preview_key, base)
    shape = base.data.input_shape[-2:]
    images = figure_cache.shared(("learn_prune_units", preview_key, amount, scope), lambda: teach.unit_images(
        units["dense"], shown["first_layer"], range(len(units["units"])), shape, labels=units["units"]))
    return hist, images


def pruning_entry(preview_key: str, amount: int, scope: str, binding) -> dict:
    """What the pruning lesson draws at `amount` (ui/instant.py's table entry), from the same caches as a move."""
    shown = pruning_numbers(preview_key, base, amount, scope)
    hist, images = pruning_figures(preview_key, amount, scope, shown)
    tag = binding.tag_at(amount)
    return {"slots": {PRUNING_CARDS: cards.block_html(pruning_cards(shown), 4, PRUNING_CARDS, tag)},
            "charts": {"learn_prune_hist": hist, "learn_prune_units": images}}


@st.fragment
def structure_lesson() -> None:
    st.subheader("Unstructured vs structured: where speed comes from")
    st.markdown("A mask leaves every matrix its full size: the zeros are stored and multiplied like any other "
                "number, so a dense kernel takes as long as before. A sparse format or kernel can skip them, but it "
                "pays off only at high sparsity and with hardware or library support. **Structured** pruning removes "
                "whole hidden neurons instead: a row of one weight matrix and the matching column of the next go, "
                "so the matrices themselves shrink and any kernel computes less.")
    st.latex(r"W_\ell \in \mathbb{R}^{n_\ell \times n_{\ell-1}} \;\longrightarrow\; "
             r"\mathbb{R}^{(1-a)\,n_\ell \times (1-a)\,n_{\ell-1}}:\quad "
             r"\text{an inner layer keeps about } (1-a)^2 \text{ of its weights}")
    c = st.columns([3, 1])
    amount = c[0].slider("Share removed, a (of weights for the mask, of each hidden layer's neurons for structured)",
                         5, 95, 50, 5, format="%d%%", key="learn_struct_amount")
    if c[1].button("Time again", key="learn_struct_remeasure", help="latency varies with the machine's load"):
        st.session_state["learn_struct_measurement"] = st.session_state.get("learn_struct_measurement", 0) + 1
    try:
        df = speed(KEY, base, amount / 100, st.session_state.get("learn_struct_measurement", 0))
    except CompressError as exc:
        common.show_error(exc)
        return
    figures.show(teach.speed_figure(df, SPEED_BATCH, torch.get_num_threads()), key="learn_struct_speed")
    dense, masked, structured = (df.iloc[i] for i in range(3))
    st.caption(f"Measured just now (median of timed calls after warm-up, batch {SPEED_BATCH}): the masked model has "
               f"{amount} % of its weights at zero yet runs in "
               f"{fmt.ms(masked.latency_ms)} against {fmt.ms(dense.latency_ms)} dense "
               f"({dense.latency_ms / masked.latency_ms:.2f}× speed-up: timing noise). Without {amount} % of its "
               f"hidden neurons the model has {fmt.count(structured.params_total)} parameters "
               f"({fmt.pct(structured.params_total / dense.params_total)} of the dense model), "
               f"{fmt.ratio(dense.flops_dense / structured.flops_dense)} fewer FLOPs and runs "
               f"{fmt.ratio(dense.latency_ms / structured.latency_ms)} faster.")
    st.markdown("**Speed is not the whole story: accuracy at equal size.** Removing whole neurons takes useful "
                "weights with the useless ones, so at the same number of parameters kept, structured pruning loses "
                "far more accuracy before fine-tuning than picking weights one by one; fine-tuning wins most of it "
                "back.")
    epochs = EQUAL_PARAMS_EPOCHS
    tuned = st.session_state.get("learn_struct_tuned", set())
    if st.button(f"Fine-tune both for {epochs} epochs (a few seconds)", key="learn_struct_finetune"):
        tuned = tuned | {amount}
        st.session_state["learn_struct_tuned"] = tuned
    table = equal_params(KEY, base, amount / 100, epochs if amount in tuned else 0)
    figures.show(teach.equal_params_figure(table, ACC0, epochs), key="learn_struct_equal")
    s_row, u_row = table.iloc[0], table.iloc[1]
    st.caption(f"Both keep {fmt.count(s_row.params_kept)} parameters ({fmt.pct(s_row.kept_share)}): {amount} % of the "
               f"hidden neurons removed, against the same number of weights masked by global L1. Right after pruning: "
               f"structured {fmt.pct(s_row.before_finetune)}, unstructured {fmt.pct(u_row.before_finetune)}"
               + (f"; after {epochs} epochs: structured {fmt.pct(s_row.after_finetune)}, unstructured "
                  f"{fmt.pct(u_row.after_finetune)}" if amount in tuned else "") + ".")
    try_it(f"structured pruning, {amount} % of neurons", "pages/prune.py",
           {"prune_dataset": "digits", "prune_model": "lenet300", "prune_method": "structured",
            "prune_amount": amount, "prune_baseline_epochs": baseline_epochs()}, key="learn_struct_try")


# ---------------------------------------------------------------- gradual pruning
@st.fragment
def gradual_lesson() -> None:
    st.subheader("Gradual pruning (AGP)")
    st.markdown("Removing many weights at once is a shock the network must recover from. Automated gradual pruning "
                "(Zhu & Gupta, 2017) raises the sparsity in *n* steps during fine-tuning, so the remaining weights "
                "can take over the work of the removed ones between steps. The cubic schedule prunes fast while many "
                "weights are redundant and slowly near the end:")
    st.latex(r"s_t = s_f + (s_i - s_f)\left(1 - \frac{t}{n}\right)^3,\qquad t = 1, \dots, n")
    c = st.columns(3)
    start = c[0].slider("Start sparsity s_i", 0, 90, 0, 5, format="%d%%", key="learn_agp_start")
    end = c[1].slider("End sparsity s_f", 0, 99, 90, 1, format="%d%%", key="learn_agp_end")
    steps = c[2].slider("Steps n", 1, 50, 10, key="learn_agp_steps")
    try:
        curve = teach.agp_curve(start / 100, end / 100, steps)
    except CompressError as exc:
        common.show_error(exc)
        return
    figures.show(teach.agp_figure(curve), key="learn_agp_curve")
    half = int((curve["sparsity"] >= start / 100 + (end - start) / 200).idxmax())
    st.caption(f"Half of the way from {start} % to {end} % is reached after step {half} of {steps}; the last step "
               f"removes {fmt.pct(curve['removed_in_step'].iloc[-1], 2)} of the weights. In this lab's runs AGP starts "
               "from the dense model (s_i = 0), spreads the steps over the first two thirds of fine-tuning and "
               "trains the last third at the final sparsity.")
    st.markdown("**Does it pay off? Measured.** The same model pruned to the same final sparsity by global L1, "
                "with the same fine-tuning budget (cosine Adam, the lab's fine-tuning), three ways: all at once "
                "before fine-tuning, on the cubic AGP schedule, and on a linear one (both spread over the first two "
                "thirds of fine-tuning, as in the lab's runs).")
    if st.button(f"Measure at {end} % here (about a minute)", key="learn_agp_measure", disabled=end == 0):
        st.session_state["learn_agp_measured"] = (end, schedules(KEY, base, end / 100))
    measured = st.session_state.get("learn_agp_measured")
    table, final, source = (measured[1], measured[0] / 100, "measured just now") if measured else \
        (teach.DOC_SCHEDULES, 0.9, "measured on this model: 90 %, 10 steps, 3 epochs, seed 0")
    figures.show(teach.schedule_figure(table, final), key="learn_agp_measured_figure")
    finals = table.groupby("schedule", sort=False)["final_accuracy"].last()
    st.caption(f"{source.capitalize()}. After fine-tuning: "
               + ", ".join(f"{name} {fmt.pct(acc)}" for name, acc in finals.items())
               + ". With a budget this short on a model this redundant, one-shot pruning recovers best: the "
                 "gradual schedules leave less time to recover after their last steps. AGP's advantage (Zhu & "
                 "Gupta 2017) shows on larger models, at higher sparsity and with longer fine-tuning; measure yours "
                 "on the Prune page.")
    try_it(f"AGP to {end} % in {steps} steps", "pages/prune.py",
           {"prune_dataset": "digits", "prune_model": "lenet300", "prune_method": "l1", "prune_schedule": "agp",
            "prune_steps": steps, "prune_amount": end, "prune_baseline_epochs": baseline_epochs()},
           key="learn_agp_try")
    predict_questions.gradual()


# ---------------------------------------------------------------- distillation
@st.fragment
def distillation_lesson() -> None:
    st.subheader("Knowledge distillation: learning from soft targets")
    st.markdown("A trained teacher's output says more than the label. For an 8 that looks a little like a 1, the "
                "teacher gives the class 1 some probability; that similarity between classes is the *dark "
                "knowledge* a small student can learn from (Hinton et al., 2015). Dividing the logits z by a "
                "temperature T > 1 before the softmax makes these small probabilities visible:")
    st.latex(r"p_i^{(T)}(z) = \frac{\exp(z_i / T)}{\sum_j \exp(z_j / T)}")
    logits, student_logits = logits_of(KEY, base)
    y, names = base.data.y_test, list(base.data.class_names)
    c = st.columns(3)
    index = c[0].number_input(f"Test image (0–{len(y) - 1})", 0, len(y) - 1, teach.dark_example(logits, y),
                              key="learn_kd_image", help="starts at a digit the teacher gets right with at least 95 % "
                                                         "confidence and whose runner-up class shows most at T = 4")
    temperature = c[1].slider("Temperature T", 0.5, 20.0, 4.0, 0.5, key="learn_kd_temperature")
    alpha = c[2].slider("α: weight of the soft targets", 0.0, 1.0, 0.9, 0.05, key="learn_kd_alpha")
    truth = names[int(y[index])]
    left, right = st.columns([1, 2.2])
    with left:
        figures.show(teach.digit_figure(base.data.x_test[index], f"Test image {index} (class {truth})"),
                     key="learn_kd_digit")
    with right:
        figures.show(teach.temperature_figure(logits[index], temperature, names, truth), key="learn_kd_soft")
    matrix = teach.class_similarity(logits, y, temperature)
    pairs = teach.alike_pairs(matrix, names)
    figures.show(teach.similarity_figure(matrix, names, temperature), key="learn_kd_similarity")
    st.caption("Most alike at this temperature (true class → the wrong class it gets most, mean probability): "
               + "; ".join(f"{a} → {b} ({fmt.pct(p, 1)})" for a, b, p in pairs) + ".")

    st.markdown("The student minimises a mix of two terms: the KL divergence between the softened teacher and "
                "student distributions, and the usual cross-entropy with the true labels y. The teacher's logits are "
                "fixed; only the student learns. (Adding the teacher's own cross-entropy to the student's loss, a "
                "common snippet, does nothing: that term has no gradient for the student.)")
    st.latex(r"\mathcal{L} = \alpha\, T^2\, \mathrm{KL}\!\left(p^{(T)}(z_t)\,\big\|\,p^{(T)}(z_s)\right)"
             r" + (1 - \alpha)\, \mathrm{CE}\!\left(y,\, p^{(1)}(z_s)\right)")
    st.markdown("**Why T².** The gradient of the KL term with respect to the student's logits is "
                "(p_s − p_t)/T, and for large T the difference p_s − p_t itself shrinks like 1/T: without a "
                "correction the soft term's gradients fade as 1/T². Hinton et al. multiply it by T² so that "
                "\"the relative contributions of the hard and soft targets remain *roughly* unchanged\" when T "
                "changes: that holds at high T, not at every T. Below: the gradient each term sends to a freshly "
                f"initialised student (an mlp with {teach.STUDENT_WIDTH} hidden units) on the test digits, and "
                "their ratio.")
    grads = teach.kd_gradients(student_logits, logits, y, [t / 2 for t in range(1, 41)], alpha)
    terms = teach.kd_loss_terms(student_logits, logits, y, temperature, alpha)
    left, right = st.columns([1, 2.2])
    ratios = teach.soft_hard_ratios(student_logits, logits, y, (1.0, 2.0, 4.0, 8.0, temperature), alpha)
    with left:
        common.card_block([  # one element (ui/cards.py)
            ("Soft/hard gradient ratio", f"{ratios[temperature]:.1f}", f"at T = {temperature:g}",
             "mean gradient norm of α·T²·KL over that of (1 − α)·CE; at T = 1, 2, 4, 8: "
             + ", ".join(f"{ratios[t]:.1f}" for t in (1.0, 2.0, 4.0, 8.0))
             + ". It settles at high T (T² undoes the 1/T² fade) but is not constant"),
            ("Soft term α·T²·KL", f"{terms['soft']:.3f}", None, f"at T = {temperature:g}, α = {alpha:g}"),
            ("Hard term (1 − α)·CE", f"{terms['hard']:.3f}", None, "cross-entropy with the true labels"),
            ("Loss", f"{terms['total']:.3f}", None, "the sum; the engine's distillation_loss")])
    with right:
        figures.show(teach.kd_gradient_figure(grads, temperature, alpha), key="learn_kd_grad")
    try_it(f"distil at T = {temperature:g}, α = {alpha:g}", "pages/distill.py",
           {"distill_dataset": "digits", "distill_teacher": "lenet300", "distill_student": "mlp",
            "distill_temperature": temperature, "distill_alpha": alpha, "distill_teacher_epochs": baseline_epochs()},
           key="learn_kd_try")


@st.cache_data(show_spinner=False, max_entries=2)
def label_share_here(key: str, _base) -> dict:
    """The control measured on this machine for seed 0 (about 20 s on 2 cores), cached per baseline."""
    from compress_core.present.teach_controls import label_share_control

    return label_share_control(_base.model, _base.data, seed=0) | {"seeds": 1}


@st.fragment
def labels_lesson() -> None:
    st.subheader("Soft targets without labels: how much comes from the teacher?")
    st.markdown("The teacher can produce soft targets for any input, labelled or not. So with 10 % of the labels, a "
                "student can learn from the teacher on every training input and from the labels on the few that "
                "have one, and it does far better than the same student trained on the labelled inputs alone. "
                "**But that comparison is confounded** when the teacher itself was trained on *all* the labels: "
                "part of the gain is the other 90 % of the labels reaching the student through the teacher. The "
                "control: a second teacher trained on the same 10 % only, distilled into the same student.")
    summary, source = dict(teach.DOC_LABEL_SHARE), "digits, mean of 3 seeds, benchmarks/bench_label_share.py"
    if st.button("Measure the control here (seed 0, about 20 s)", key="learn_labels_measure"):
        summary, source = label_share_here(KEY, base), "measured just now, seed 0"
        st.session_state["learn_labels_measured"] = summary
    elif st.session_state.get("learn_labels_measured"):
        summary, source = st.session_state["learn_labels_measured"], "measured just now, seed 0"
    figures.show(teach.label_share_figure(summary, source), key="learn_kd_label_share")
    from_teacher = summary["distilled, teacher on all labels"] - summary["distilled, teacher on the same labels"]
    by_itself = summary["distilled, teacher on the same labels"] - summary["scratch"]
    st.caption(f"Of the {fmt.pp(summary['distilled, teacher on all labels'] - summary['scratch'])} the distilled "
               f"student gains over the scratch student, {fmt.pp(from_teacher)} vanish when its teacher saw only the "
               f"same labels: that part came from the teacher's extra labels. What soft targets on unlabelled inputs "
               f"add by themselves here is {fmt.pp(by_itself)}. Soft targets do need no labels *for the student*; "
               "the knowledge they carry still had to be learnt from labels by someone.")
    st.markdown("The three settings of the Distill page, measured (your own distillation runs are shown beside "
                "them once they finish, never instead of them):")
    figures.show(teach.fraction_figure(teach.DOC_FRACTION_RESULTS, "digits, 3 seeds, see docs/distillation.md"),
                 key="learn_kd_fraction")
    runs = teach.fraction_results(finished_runs())
    if len(runs):
        figures.show(teach.fraction_figure(runs, f"mean of your {int(runs['runs'].sum())} finished distillation "
                                                 f"run(s) on {runs['dataset'].iloc[0]}"), key="learn_kd_fraction_runs")
    try_it("10 % labels, soft targets on every input", "pages/distill.py",
           {"distill_dataset": "digits", "distill_teacher": "lenet300", "distill_student": "mlp", "distill_width": 16,
            "distill_fraction": 0.1, "distill_transfer": "all", "distill_teacher_epochs": baseline_epochs()},
           key="learn_labels_try")
    predict_questions.distillation(lambda: label_share_here(KEY, base))


# ---------------------------------------------------------------- quantization
def quantization_lesson() -> None:
    """The fixed text, then the fragment the bits, scales and layer controls rerun (only what they change), then
    the question and the second half (zero-points, calibration, int8 speed), each rerun by its own controls."""
    st.subheader("Quantization: k-bit weights")
    st.markdown("Quantization stores each weight as a k-bit integer and keeps one floating-point scale s per tensor "
                "or per output channel. The grid is symmetric, with 2^k − 1 values and an exact zero:")
    st.latex(r"s = \frac{\max |W|}{2^{k-1} - 1},\qquad q = \mathrm{clamp}\!\left(\mathrm{round}(W / s),\, "
             r"-(2^{k-1} - 1),\, 2^{k-1} - 1\right),\qquad \hat W = s\, q")
    quantization_panel()
    st.fragment(predict_questions.quantization)(base)  # its own fragment: a guess reruns the question only
    st.divider()
    learn_quantization.section(base, ACC0)  # zero-points, calibration, int8 speed: ui/learn_quantization.py


@st.fragment
@instant.builds_after
@profile.timed("learn-quantization")
def quantization_panel() -> None:
    preview_key = preview_cache.key_of(base)
    shapes = {name: "×".join(map(str, m.weight.shape)) for name, m in prunable_layers(base.model)}
    c = st.columns(3)
    layer = c[0].selectbox("Layer", list(shapes), key="learn_q_layer",
                           format_func=lambda name: f"{name} ({shapes[name]} weights)")
    bits = c[1].slider("Bits k", teach.BITS[0], teach.BITS[-1], 3, key="learn_q_bits")
    granularity = c[2].radio("Scales", tuple(teach.GRANULARITY_LABELS), key="learn_q_granularity", horizontal=True,
                             format_func=teach.GRANULARITY_LABELS.get)
    # every k drawn ahead in the browser (ui/instant.py): the cards and the four figures
    binding = instant.bind("learn_q_bits", (preview_key, layer, granularity), bits)
    tag = instant.tag(binding)
    shown, figs = quantization_view(preview_key, layer, bits, granularity)
    left, right = st.columns([1, 2.2])
    with left:
        common.card_block(shown, slot=QUANTIZATION_CARDS, tag=tag)  # one element (ui/cards.py)
    with right:
        figures.show(figs["learn_q_grid"], key="learn_q_grid", tag=tag)
    st.markdown("Rounding moves a weight by at most s/2. Each extra bit halves s, so the signal-to-quantization-noise "
                "ratio grows by about 6 dB per bit; accuracy holds until the noise reaches what the network "
                "tolerates, then falls fast.")
    left, right = st.columns(2)
    with left:
        figures.show(figs["learn_q_error"], key="learn_q_error", tag=tag)
    with right:
        figures.show(figs["learn_q_accuracy"], key="learn_q_accuracy", tag=tag)
    st.markdown("**Per tensor or per output channel.** One scale per tensor is set by the widest channel, so "
                "channels with small weights fall on only a few grid values. One scale per output channel gives "
                "every channel the whole grid, for the cost of one more float per channel.")
    figures.show(figs["learn_q_levels"], key="learn_q_levels", tag=tag)
    try_it(f"fake {bits}-bit, {teach.GRANULARITY_LABELS[granularity]}", "pages/quantize.py",
           {"quantize_dataset": "digits", "quantize_model": "lenet300", "quantize_scheme": "fake",
            "quantize_bits": bits, "quantize_granularity": granularity, "quantize_layer": layer,
            "quantize_baseline_epochs": baseline_epochs()}, key="learn_q_try")
    instant.offer(binding, teach.BITS, lambda k: quantization_entry(preview_key, layer, k, granularity, binding))


QUANTIZATION_CARDS = "learn_q_cards"  # the instant preview's slot of the quantization lesson's cards


def quantization_view(preview_key: str, layer: str, bits: int, granularity: str) -> tuple[list[tuple], dict]:
    """The quantization lesson at k = `bits`: its cards and its four figures by key (each shared by every session:
    the bits slider has 7 values, so after a few moves every session's figures come from the cache)."""
    def shared(*setting):
        """figure_cache.shared under this baseline and `setting` (what the figure shows), as a decorator-like call."""
        return lambda build: figure_cache.shared((*setting, preview_key), build)

    weight = teach.layer_weight(base.model, layer)
    channel = teach.narrowest_channel(weight)
    view = teach.grid_view(weight, bits, granularity, channel)
    errors = teach.error_vs_bits(weight)
    mine = errors[(errors["bits"] == bits) & (errors["granularity"] == granularity)].iloc[0]
    accuracy = quantized_accuracy(KEY, base)
    acc = accuracy[(accuracy["bits"] == bits) & (accuracy["granularity"] == granularity)]["accuracy"].iloc[0]
    grid = f"output channel {channel}" if granularity == "channel" else "the layer"
    shown = [
        (f"Accuracy at {bits} bits", fmt.pct(acc), fmt.pp(acc - ACC0),
         f"every weight of the model on its {bits}-bit grid, compute in fp32; fp32 model {fmt.pct(ACC0, 2)}"),
        ("Signal-to-noise", f"{mine['sqnr_db']:.1f} dB", layer, "10·log10(Σw² / Σ(w − ŵ)²) over the layer"),
        ("Largest rounding error", f"{view['max_abs']:.2g}", f"grid step {view['step']:.2g}",
         f"over the weights of {grid}, which share this grid: at most half its step ({view['step'] / 2:.2g})"),
        ("Weights", f"{32 / bits:.1f}× smaller", f"{bits} instead of 32 bits",
         "plus one fp32 scale per tensor or channel")]
    where = f"{layer}, output channel {channel} (the narrowest range)" if granularity == "channel" else layer

    def accuracy_figure():
        fig = plots.accuracy_vs_bits(accuracy, ACC0, "Test accuracy with every weight quantized")
        return fig.add_vline(x=bits, line_dash="dash", line_color="#222")

    figs = {
        "learn_q_grid": shared("learn_q_grid", layer, bits, granularity)(lambda: plots.quantization_grid(
            view["edges"], view["counts"], view["levels"], bits, layer,
            f"{where}: weights and the {len(view['levels'])} values of the {bits}-bit grid")),
        "learn_q_error": shared("learn_q_error", layer, bits)(lambda: teach.error_figure(errors, bits, layer)),
        "learn_q_accuracy": shared("learn_q_accuracy", bits)(accuracy_figure),
        "learn_q_levels": shared("learn_q_levels", layer, bits)(lambda: teach.levels_figure(
            {k: teach.levels_per_channel(weight, k) for k in teach.BITS}, bits, layer))}
    return shown, figs


def quantization_entry(preview_key: str, layer: str, bits: int, granularity: str, binding) -> dict:
    """What the quantization lesson draws at k = `bits` (ui/instant.py's table entry), from the same caches."""
    shown, figs = quantization_view(preview_key, layer, bits, granularity)
    tag = binding.tag_at(bits)
    return {"slots": {QUANTIZATION_CARDS: cards.block_html(shown, 1, QUANTIZATION_CARDS, tag)}, "charts": figs}


# ---------------------------------------------------------------- questions
def questions() -> None:
    st.subheader("Questions people ask")
    runs = finished_runs()
    best = teach.best_runs(runs)
    speed_row = speed(KEY, base, 0.5, st.session_state.get("learn_struct_measurement", 0))
    accuracy = quantized_accuracy(KEY, base)
    per_channel = accuracy[accuracy["granularity"] == "channel"].set_index("bits")["accuracy"]
    dense, masked, structured = (speed_row.iloc[i] for i in range(3))
    if len(best):
        lines = "\n".join(f"- **{plots.METHOD_LABELS.get(m, m)}** (run `{i}`): {t}"
                          for m, i, t in zip(best["method"], best["id"], best["trade_off"]))
        evidence = (f"From your {len(runs)} finished run(s), the smallest model of each method that stays within "
                    f"one point of its baseline's accuracy:\n\n{lines}")
    elif runs:
        evidence = (f"None of your {len(runs)} finished run(s) is a compressed model within one point of its "
                    "baseline yet; the figures below are measured on the lesson model.")
    else:
        evidence = "No finished runs yet: the figures below are measured on the lesson model."
    with st.expander("What does compression gain, and what does it cost?", expanded=lecture.expanded(True)):
        st.markdown(
            f"{evidence}\n\n"
            f"**Gains.** Smaller files and memory: weights in 8 bits take 4× less space than fp32, in 4 bits 8× less; "
            f"on the lesson model 4-bit per-channel weights keep {fmt.pct(per_channel[4])} accuracy "
            f"(fp32: {fmt.pct(ACC0)}). Faster inference when the structure shrinks: without half of its hidden "
            f"neurons the lesson model ran {fmt.ratio(dense.latency_ms / structured.latency_ms)} faster just now "
            f"(batch {SPEED_BATCH}). Lower serving cost and energy, and models that fit on phones and "
            f"microcontrollers.\n\n"
            f"**Costs.** Accuracy falls once you go too far, and fast: at 2 bits the same model keeps "
            f"{fmt.pct(per_channel[2])}. Masks alone do not speed anything up: half the weights at zero ran at "
            f"{fmt.ratio(dense.latency_ms / masked.latency_ms)} the dense speed. Fine-tuning, calibration and "
            f"re-validation take time, and sparse or low-bit speed-ups need a runtime and hardware that support them.")
        points = plots.run_points(runs)
        points = points.dropna(subset=["size_bytes", "accuracy"])
        if len(points):
            dataset = points["dataset"].value_counts().index[0]
            figures.show(plots.pareto(points[points["dataset"] == dataset],
                                      f"Your finished runs on {Path(str(dataset)).name}: accuracy vs size"),
                         key="learn_questions_pareto")
    pruned_accuracy, _ = evaluate(teach.pruned_copy(base.model, 0.9), base.data.x_test, base.data.y_test)
    int8_evidence = teach.int8_evidence(runs)
    with st.expander("Pruning or distillation?", expanded=lecture.expanded(True)):
        st.markdown(
            "- **Pruning** starts from the trained model and removes parts of it, then fine-tunes briefly. It needs "
            "the training data, keeps the architecture, and is cheap to try: on the lesson model, 90 % of the "
            f"weights removed by magnitude leave {fmt.pct(pruned_accuracy)} accuracy before any fine-tuning "
            f"(dense: {fmt.pct(ACC0)}). Unstructured masks give high compression ratios but speed only with sparse "
            "kernels; structured pruning gives real speed-ups at a lower ratio.\n"
            "- **Distillation** trains a new, smaller architecture of your choice to imitate the teacher. It costs a "
            "full training run, but the student can be any shape that suits the hardware, and the teacher's soft "
            "targets also work on unlabelled inputs: in docs/distillation.md a student with 16 hidden units (1,210 "
            "parameters, 41.8× fewer than LeNet-300-100) reached 97.3 % on digits with 10 % of the labels, against "
            "97.7 % for its teacher and 90.5 % for the same student trained on those labels alone, but its teacher "
            "had seen all the labels: from a teacher trained on the same 10 % it reached 91.1 % (see the "
            "distillation tab).\n"
            f"- **They combine**: distil into a smaller student, then prune or quantize it. Quantization needs no "
            f"retraining and is quick to try, but measure it: {int8_evidence}")
    with st.expander("Where is compression used?"):
        st.markdown(
            "- **Phones**: keyboards, cameras, speech and translation run on the device, usually with int8 weights "
            "(TensorFlow Lite, Core ML, ExecuTorch): faster answers, offline use, and data that stays on the phone.\n"
            "- **Edge devices and microcontrollers**: a sensor or a camera with kilobytes to megabytes of memory and "
            "a battery; int8 and pruned models are what fits.\n"
            "- **Serving cost**: large models served with 8- or 4-bit weights fit on fewer GPUs and answer more "
            "requests per GPU; distilled models such as DistilBERT (40 % smaller and 60 % faster than BERT, "
            "keeping 97 % of its language-understanding score, by its authors' measure) replace their teachers "
            "where the loss is acceptable.")
    with st.expander("What comes next?"):
        st.markdown(
            "- **4-bit weights for large models**: GPTQ (Frantar et al., 2023) quantizes 175-billion-parameter models "
            "to 3-4 bits per weight in a few GPU hours from a small calibration set, with little perplexity loss; "
            "AWQ (Lin et al., 2024) protects the weights that large activations multiply. Both are weight-only: the "
            "gain is memory and bandwidth, which is what limits large-model inference.\n"
            "- **Low-precision floats**: FP8 (8-bit floats, on NVIDIA Hopper and newer) for training and inference, "
            "and 4-bit floats with shared block scales (the OCP Microscaling MXFP4 format, 2023) on the newest GPUs. "
            "On CPUs, bf16 on AMX / AVX-512 BF16 hardware: see the Quantize page's precision table for what wins on "
            "your machine.\n"
            "- **Pruning without retraining**: SparseGPT (Frantar & Alistarh, 2023) prunes OPT-175B to 50-60 % "
            "unstructured sparsity in one shot with minimal accuracy loss; Wanda (Sun et al., 2024) scores weights "
            "by |weight| × input activation norm and needs no weight update at all (this lab's `--method wanda`).\n"
            "- **Hardware-friendly sparsity**: 2:4 patterns (two zeros in every four weights) on NVIDIA GPUs since "
            "Ampere. \"Up to 2×\" is the peak of the matrix unit; measured whole-model gains are smaller: PyTorch's "
            "2:4 tutorial reports 1.3× on BERT-base (F1 86.92 → 86.48), NVIDIA ModelOpt 1.3-1.6× on large models.\n"
            "- **KV-cache compression**: for long contexts the attention cache, not the weights, fills the memory; "
            "quantizing it (e.g. KIVI, Liu et al., 2024, to 2 bits) and evicting unimportant tokens are active "
            "research.\n"
            "- **Per-layer budgets and combined pipelines**: layers differ in how much they tolerate (this lab's "
            "`sensitivity` command measures it); Deep Compression (Han et al., 2016) reached 35× on AlexNet and "
            "49× on VGG-16 with pruning, quantization and Huffman coding; here the `pipeline` run kind chains "
            "the steps.")


from ui import learn_attention, learn_damage, learn_lottery, predict_questions  # noqa: E402  (own modules)


def lottery_lesson() -> None:
    learn_lottery.lesson(base, try_it)


def damage_lesson() -> None:
    learn_damage.lesson(base, try_it)


# The lessons in page order, (title, function). Normal mode puts them in tabs named by the title's part before ": "
# (lessons of one tab in list order, divided by a line); lecture mode (ui/lecture.py) shows one per screen, in list
# order. Add a lesson with one line here.
# One pruning lesson per tab: the open tab is the only one drawn, so a first visit draws one lesson, not four, and a
# slider move re-renders a short page (issue 19: Learn's first visit and moves were the slowest of the previews).
SECTIONS = [
    ("Pruning: magnitude pruning", pruning_lesson),
    ("Structured pruning: unstructured vs structured", structure_lesson),
    ("Lottery tickets: the mask or the initial weights?", lottery_lesson),
    ("Pruning damage: what a pruned model forgets", damage_lesson),
    ("Gradual pruning", gradual_lesson),
    ("Distillation: soft targets", distillation_lesson),
    ("Distillation: soft targets without labels", labels_lesson),
    ("Quantization", quantization_lesson),
    ("Questions people ask", questions),
    # Its own tab, not drawn below every tab: it loads tinybert (transformers and the text data set on a fresh
    # server) and draws four figures, which made every first visit to Learn 0.1-0.3 s slower (docs/performance.md,
    # eighth round)
    ("Compressing attention", learn_attention.section),
]

lecture.sections(SECTIONS, key="learn")
instant.finish(page_end=True)  # the instant previews' tables, once the rest of the page is drawn
