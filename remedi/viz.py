"""Pictures of a denoising run: per-step token views as HTML and the masked-count curve.

Shared by the Gradio demo (app.py) and reports, so both colour a step the same way. Every position of
the answer is in one of four states after a step:
- masked: still [MASK] (and was before the step),
- filled: [MASK] before the step, a token after it,
- remasked: a token before the step, sent back to [MASK] by it (shown as the token it lost, struck out),
- kept: a token before and after the step.
"""

import html

from matplotlib.figure import Figure


MASKED, FILLED, REMASKED, KEPT = "masked", "filled", "remasked", "kept"
TOKEN_STATES = (MASKED, FILLED, REMASKED, KEPT)
STATE_STYLES = {
    MASKED: "background:#e5e7eb;color:#6b7280",
    FILLED: "background:#bbf7d0;color:#14532d;font-weight:600",
    REMASKED: "background:#fecaca;color:#7f1d1d;text-decoration:line-through",
    KEPT: "background:transparent;color:inherit",
}
MASK_TEXT = "[MASK]"


def token_states(record, answer_ids, mask_id, row=0):
    """State of each answer position after the step that `record` (one sampler trace record) describes."""
    filled, remasked = set(record["filled"][row]), set(record["remasked"][row])
    states = []
    for position, token in enumerate(answer_ids):
        if position in remasked:
            states.append(REMASKED)
        elif position in filled:
            states.append(FILLED)
        elif token == mask_id:
            states.append(MASKED)
        else:
            states.append(KEPT)
    return states


def step_view(tokenizer, previous_ids, answer_ids, record, mask_id, row=0):
    """(texts, states) for one step; a remasked position shows the token it lost, a masked one MASK_TEXT.

    `previous_ids` and `answer_ids` are the answer's ids before and after the step (plain lists).
    """
    states = token_states(record, answer_ids, mask_id, row)
    texts = []
    for before, after, state in zip(previous_ids, answer_ids, states):
        if state == MASKED:
            texts.append(MASK_TEXT)
        else:
            texts.append(tokenizer.decode([before if state == REMASKED else after]))
    return texts, states


def render_step_html(texts, states, legend=True):
    """One <span class="tok tok-STATE"> per position, HTML-escaped, with inline colours (no CSS needed).

    Newlines are drawn as a visible '↵' before the line break, so a coloured newline token is not lost.
    """
    if len(texts) != len(states):
        raise ValueError(f"{len(texts)} texts but {len(states)} states")
    spans = []
    for text, state in zip(texts, states):
        if state not in STATE_STYLES:
            raise ValueError(f"unknown token state {state!r}; choose one of {TOKEN_STATES}")
        shown = html.escape(text).replace("\n", "↵\n")
        spans.append(f'<span class="tok tok-{state}" title="{state}" style="{STATE_STYLES[state]}">{shown}</span>')
    parts = []
    if legend:
        counts = {state: states.count(state) for state in TOKEN_STATES}
        keys = " ".join(
            f'<span class="legend legend-{s}" style="{STATE_STYLES[s]};padding:0 4px">{s} {counts[s]}</span>'
            for s in TOKEN_STATES
        )
        parts.append(f'<div class="remedi-legend" style="margin-bottom:6px;font-size:90%">{keys}</div>')
    parts.append(
        '<div class="remedi-step" style="font-family:ui-monospace,monospace;white-space:pre-wrap;'
        f'word-break:break-all;line-height:1.8">{"".join(spans)}</div>'
    )
    return "".join(parts)


def mask_count_figure(trace, schedule, row=0):
    """Masked count after each step (dots) against the schedule (line), remasked tokens per step (bars).

    `trace` may be a prefix of a run (while streaming); `schedule` covers the whole run. Returns a
    matplotlib Figure built without pyplot, so nothing is left open in a global figure registry.
    """
    figure = Figure(figsize=(6.4, 3.0))
    figure.subplots_adjust(left=0.1, right=0.98, top=0.95, bottom=0.17)  # fixed: layout engines are slow
    axes = figure.add_subplot()
    steps = range(1, len(schedule) + 1)
    axes.plot(steps, schedule, color="#6b7280", linewidth=1.5, label="schedule")
    done = range(1, len(trace) + 1)
    axes.bar(done, [len(r["remasked"][row]) for r in trace], color="#f87171", label="remasked this step")
    axes.plot(done, [r["masked_count"][row] for r in trace], "o", color="#2563eb", markersize=3,
              label="masked after step")
    axes.set_xlim(0.5, len(schedule) + 0.5)
    axes.set_ylim(bottom=0)
    axes.set_xlabel("step")
    axes.set_ylabel("tokens")
    axes.legend(loc="upper right", fontsize="small")
    return figure
