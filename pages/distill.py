"""Distill: teach a small student from a trained teacher, next to the same student trained from scratch."""
import math

import streamlit as st

from compress_core import fmt

from compress_core.present import plots
from ui import cards, common, figure_cache, instant, preview_cache, profile
from ui.device import device_select

common.ensure_navigation()

P = "distill"
WIDTHS = [4, 8, 16, 32, 64, 128, 256, 512]
SHOWN_INPUTS = 4

st.title("Distill")
st.caption("The student learns from the teacher's softened outputs and from the labels: loss = α·T²·KL(teacher ‖ "
           "student at temperature T) + (1 − α)·cross-entropy. The same student trained from scratch on the same "
           "labels shows whether distillation helped.")
common.use_few_threads()

def text_student_settings(teacher_name: str) -> dict:
    """A transformer teacher's student: fewer layers (copied from every k-th teacher layer) and/or narrower
    (randomly initialised), and the weight of the hidden-state term. Spec fields of DistillSpec."""
    from compress_core.present.preview_text import teacher_shape

    from compress_core.errors import CompressError

    try:
        shape = teacher_shape(teacher_name)
    except CompressError as exc:  # a bad folder: one line
        common.show_error(exc)
        st.stop()
    n = shape["layers"]
    st.caption(f"Transformer teacher: {n} layers, hidden {shape['hidden']}, {shape['heads']} heads, FFN {shape['ffn']}. "
               "The student is the same architecture, smaller.")
    layers = st.slider("Student layers", 1, n, max(1, n // 2), key="distill_student_layers",
                       help="copied from every k-th teacher layer (DistilBERT style), the last always kept") \
        if n > 1 else 1
    fields = {"student_layers": int(layers)}
    if st.checkbox("Narrower student (random initialisation)", key="distill_narrow"):
        c = st.columns(3)
        fields["student_hidden_size"] = int(c[0].number_input("Hidden size", 1, 4096, max(1, shape["hidden"] // 2),
                                                              key="distill_student_hidden"))
        fields["student_heads"] = int(c[1].number_input("Heads", 1, 64, max(1, shape["heads"] // 2),
                                                        key="distill_student_heads",
                                                        help="the hidden size must be a multiple"))
        fields["student_intermediate_size"] = int(c[2].number_input("FFN width", 1, 16384, max(1, shape["ffn"] // 2),
                                                                    key="distill_student_ffn"))
    fields["hidden_weight"] = float(st.slider("Hidden-state term weight (0: off)", 0.0, 10.0, 0.0, 0.5,
                                              key="distill_hidden_weight",
                                              help="adds W x MSE between each student layer's output and the "
                                                   "teacher layer it comes from (projected when widths differ)"))
    return fields


settings, right = st.columns([1, 2], gap="large")
with settings:
    dataset, label_column, data = common.picked_data(P)
    teacher, teacher_hidden = common.model_picker(P, data, key="teacher", label="Teacher", default="lenet300",
                                                  default_hidden="300,100")
    from compress_core.models.text_data import takes_text

    text_teacher = takes_text(teacher)
    student_fields = text_student_settings(teacher) if text_teacher else {}
    student = teacher if text_teacher else \
        common.model_picker(P, data, key="student", label="Student", default="mlp", default_hidden=None)[0]
    if text_teacher:
        hidden = None
    elif student == "mlp":
        width = st.select_slider("Student width (one hidden layer of this many units)", WIDTHS, value=32,
                                 key="distill_width")
        hidden = (width,)
    else:
        hidden = None
    alpha = st.slider("α: weight of the teacher's soft targets", 0.0, 1.0, 0.9, 0.05, key="distill_alpha",
                      help="1 − α goes to the true labels")
    fraction = st.slider("Share of training labels known", 0.05, 1.0, 1.0, 0.05, key="distill_fraction",
                         help="a stratified share; distillation tends to pay off when labels are scarce")
    transfer = st.radio("Teacher's soft targets on", ("labeled", "all"), key="distill_transfer", horizontal=True,
                        captions=["the labelled rows only", "every training input (labels hidden)"])
    epochs = st.number_input("Student epochs (0: automatic budget)", 0, 2000, 0, key="distill_epochs",
                             help="0 gives the student as many optimiser steps as twice the data set's default "
                                  "training; the scratch control always gets the same number of steps")
    seed, teacher_epochs = common.seed_and_baseline_epochs(P, trained="Teacher")
    device = device_select(P)  # auto | cpu | cuda:N, with each GPU's name and free memory


def build_spec(temperature: float):
    from compress_core.methods.distill import DistillSpec

    return DistillSpec(model=student, hidden=hidden, dataset=dataset, label_column=label_column, teacher=teacher,
                       teacher_hidden=teacher_hidden, teacher_epochs=int(teacher_epochs) or None,
                       temperature=float(temperature), alpha=float(alpha), epochs=int(epochs) or None,
                       train_fraction=float(fraction), transfer=transfer, seed=int(seed),
                       **student_fields, **common.source_options(P, "teacher"), **device)


spec = common.spec_or_stop(lambda: build_spec(st.session_state.get("distill_temperature", 4.0)))


@st.fragment
@instant.builds_after
@profile.timed("distill")
def preview_panel(base) -> None:
    """The temperature slider and the teacher's softened outputs at that temperature."""
    temperature = st.slider("Temperature T", 0.5, 20.0, 4.0, 0.5, key="distill_temperature",
                            help="T > 1 spreads the teacher's probability over the wrong classes: the 'dark "
                                 "knowledge' the student learns from")
    if base is None:
        return
    profile.mark("slider")
    key = preview_cache.key_of(base)
    binding = instant.bind("distill_temperature", (key, teacher), temperature)  # every T drawn ahead (ui/instant.py)
    tag = instant.tag(binding)
    line, fig, note = soft_view(base, key, temperature)
    profile.mark("figure")
    cards.line("Instant preview", line, slot=LINE, tag=tag)
    common.chart(fig, key="distill_preview_soft", tag=tag)  # redrawn on every move: updated in place
    profile.mark("draw")
    cards.line("Entropy of these soft targets", note, slot=NOTE, tag=tag, small=True)
    instant.offer(binding, [t / 2 for t in range(1, 41)], lambda t: soft_entry(base, key, t, binding))


LINE, NOTE = "distill_preview_line", "distill_preview_note"  # the instant preview's two lines (their slots)


def soft_view(base, key: str, temperature: float) -> tuple[str, object, str]:
    """The preview at `temperature`: its heading line, the teacher's softened outputs (a figure shared by every
    session: the setting names it) and the entropy line."""
    from compress_core.present import preview

    probs = preview_cache.softened(key, base, SHOWN_INPUTS, temperature)  # cached, bounded
    names = list(base.data.class_names)
    truth = base.data.y_test[:SHOWN_INPUTS].tolist()
    labels = [f"test input {i} (true class {names[t]})" for i, t in enumerate(truth)]
    line = (f"the teacher ({teacher}, test accuracy {fmt.pct(base.info['accuracy'])}) on {SHOWN_INPUTS} test inputs "
            f"at T = {temperature:g}")
    fig = figure_cache.shared(("distill", key, SHOWN_INPUTS, temperature),
                              lambda: plots.softened_outputs(probs, names, labels, temperature))
    entropy = preview.entropy_bits(probs)
    note = (f"{', '.join(f'{e:.2f}' for e in entropy)} bits (a uniform guess over {len(names)} classes has "
            f"{math.log2(len(names)):.2f}). T = 1 is the teacher's ordinary softmax.")
    return line, fig, note


def soft_entry(base, key: str, temperature: float, binding) -> dict:
    """What the preview draws at `temperature` (ui/instant.py's table entry), from the same caches as a move."""
    line, fig, note = soft_view(base, key, temperature)
    tag = binding.tag_at(temperature)
    return {"slots": {LINE: cards.line_html("Instant preview", line, LINE, tag),
                      NOTE: cards.line_html("Entropy of these soft targets", note, NOTE, tag, small=True)},
            "charts": {"distill_preview_soft": fig}}


def student_panel(base) -> None:
    """A transformer student as the run builds it: its layers, where each comes from, its size."""
    from compress_core.present import plots_text, preview_text

    fields = {k: v for k, v in student_fields.items() if k != "hidden_weight"}
    plan = preview_text.student_plan(base.model, layers=fields.get("student_layers"),
                                     hidden_size=fields.get("student_hidden_size"),
                                     intermediate_size=fields.get("student_intermediate_size"),
                                     heads=fields.get("student_heads"), seed=int(seed))
    w = plan["widths"]
    common.preview_layout([
        ("Student parameters", fmt.count(plan["params_student"]), f"teacher {fmt.count(plan['params_teacher'])}",
         "counted on the student the run builds (embeddings included)"),
        ("Layers", f"{plan['student_layers']}", f"teacher {plan['teacher_layers']}", plan["init"]),
        ("Hidden / heads", f"{w['hidden'][0]} / {w['heads'][0]}", f"teacher {w['hidden'][1]} / {w['heads'][1]}", None),
        ("FFN width", str(w["ffn"][0]), f"teacher {w['ffn'][1]}", None),
    ], plots_text.student_layers(plan["teacher_layers"], plan["layer_map"], plan["init"]), key="distill_preview_student")
    if student_fields.get("hidden_weight"):
        st.caption(f"Hidden-state term: student layer i is matched to teacher layer {plan['layer_map']}[i]"
                   + (" through a learned projection" if w["hidden"][0] != w["hidden"][1] else "") + ".")


with right:
    teacher_base = common.baseline(spec.teacher_spec(), P)
    preview_panel(teacher_base)
    if text_teacher and teacher_base is not None:
        student_panel(teacher_base)

common.run_button("Run: distil and train the scratch control", "distill_run",
                  lambda: build_spec(st.session_state["distill_temperature"]), P)


def draw_result(run: dict) -> None:
    m, spec, teacher_m = run["metrics"], run["spec"], run.get("baseline") or {}
    scratch = m.get("scratch_accuracy")
    common.metric_grid([
        ("Distilled student", fmt.pct(m["accuracy"]),
         f"{fmt.pp(m['gain_vs_scratch'])} vs scratch" if scratch is not None else None,
         "top-1 test accuracy of the student trained on the teacher's soft targets and the known labels"),
        ("Student from scratch", fmt.pct(scratch), None, "same student, same initial weights, same labels and "
                                                         "optimiser steps, no teacher"),
        ("Teacher", fmt.pct(m["teacher_accuracy"]), f"{fmt.pp(m['accuracy_change'])} student vs teacher",
         "the cached baseline used as teacher, measured in the same run"),
        ("Agreement with teacher", fmt.pct(m["agreement"]), None,
         "share of test inputs where student and teacher pick the same class"),
        ("Student parameters", fmt.count(m["params_total"]), f"teacher {fmt.count(teacher_m.get('params_total'))}",
         None),
        ("Student size (fp32)", fmt.size(m["size_fp32_bytes"]),
         f"teacher {fmt.size(teacher_m.get('size_fp32_bytes'))}", "torch.save of the state dict"),
        ("Latency, batch 1", fmt.ms(m["latency_ms_b1"]), f"{fmt.ratio(m['speedup_b1'])} vs teacher",
         f"median of timed calls after warm-up, {m.get('threads')} CPU threads"),
        ("Latency, batch 64", fmt.ms(m["latency_ms_b64"]), f"{fmt.ratio(m['speedup_b64'])} vs teacher",
         f"median of timed calls after warm-up, {m.get('threads')} CPU threads"),
    ])
    left, right_col = st.columns(2)
    with left:
        labels, values, colors = ["teacher", "distilled student"], [m["teacher_accuracy"], m["accuracy"]], \
            [plots.color_of("baseline"), plots.color_of("distill")]
        if scratch is not None:
            labels.append("student from scratch")
            values.append(scratch)
            colors.append(plots.color_of("scratch"))
        common.chart(plots.bars(labels, [100 * v for v in values], colors, "Test accuracy: teacher and students",
                                "top-1 test accuracy (%)", [fmt.pct(v, 2) for v in values]), key="distill_result_acc")
    with right_col:
        curves = [row for row in run["history"] if row["stage"] in ("distill", "scratch")]
        common.chart(plots.training_curve(curves, title="Training curves of both students"),
                     key="distill_result_curve")
    left, right_col = st.columns(2)
    sizes = [teacher_m.get("size_fp32_bytes"), m["size_fp32_bytes"]]
    latency = [teacher_m.get("latency_ms_b1"), m["latency_ms_b1"]]
    pair = [plots.color_of("baseline"), plots.color_of("distill")]
    names = [f"teacher ({spec['teacher']})", f"student ({spec['model']})"]
    with left:
        common.chart(plots.bars(names, [s / 1000 for s in sizes], pair, "Size: student vs teacher",
                                "fp32 checkpoint (kB)", [fmt.size(s) for s in sizes]), key="distill_result_size")
    with right_col:
        common.chart(plots.bars(names, latency, pair, "Latency at batch 1: student vs teacher", "milliseconds per call",
                                [fmt.ms(v) for v in latency]), key="distill_result_latency")


common.show_run(common.current_run(P, "distill"), P, draw_result)
instant.finish(page_end=True)  # the instant preview's table, once the rest of the page is drawn
