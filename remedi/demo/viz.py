"""Pictures of a denoising run: per-step token views as HTML and the masked-count curve.

Shared by the Gradio demo (app.py) and the evaluation's trajectory (remedi/eval/trajectory.py, whose
figure the report shows), so all colour a step the same way. Every position of
the answer is in one of four states after a step:
- masked: still [MASK] (and was before the step),
- filled: [MASK] before the step, a token after it,
- remasked: a token before the step, sent back to [MASK] by it (shown as the token it lost, struck out),
- kept: a token before and after the step.
A position may also carry the confidence the sampler gave it (UPS or a TPS score), because that score
decides which tokens stay and which go back to [MASK]: every token shows its value on hover, and
filled and kept tokens are shaded from the least trusted (palest) to the most trusted (darkest) of the
view. The shade is relative because remasking is: a block keeps its K best tokens, whatever their
absolute scores (a trained UPS often rates every kept token between 0.6 and 0.95).
"""

import html
import math

from matplotlib.figure import Figure


MASKED, FILLED, REMASKED, KEPT = "masked", "filled", "remasked", "kept"
TOKEN_STATES = (MASKED, FILLED, REMASKED, KEPT)
# One background colour per state, for every picture of a step: the app's HTML and the eval's trajectory
# table and figure, so that a colour means the same state wherever it is seen.
STATE_COLOURS = {MASKED: "#e5e7eb", FILLED: "#bbf7d0", REMASKED: "#fecaca", KEPT: "#dbeafe"}
STATE_STYLES = {
    MASKED: f"background:{STATE_COLOURS[MASKED]};color:#6b7280",
    FILLED: f"background:{STATE_COLOURS[FILLED]};color:#14532d;font-weight:600",
    REMASKED: f"background:{STATE_COLOURS[REMASKED]};color:#7f1d1d;text-decoration:line-through",
    KEPT: f"background:{STATE_COLOURS[KEPT]};color:inherit",
}
# Filled and kept tokens with a confidence get their state's hue at an opacity that grows with its rank.
SHADED_STATES = {FILLED: (34, 197, 94), KEPT: (59, 130, 246)}
MIN_SHADE, MAX_SHADE = 0.12, 0.75
PAST_END_STYLE = "opacity:0.35"
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


def update_confidences(confidences, record, block_length, row=0):
    """Each answer position's latest finite confidence, after the step that `record` describes.

    `record` comes from a sampler run with trace_confidences=True and scores the positions of its block
    only, so earlier blocks keep the score of their last step. Positions the sampler did not rank this
    step (-inf, or None as the trace writes it: already decided without remasking) keep their earlier
    score; never scored stays None.
    """
    start = record["block"] * block_length
    updated = list(confidences)
    for offset, value in enumerate(record["confidence"][row]):
        if value is not None and math.isfinite(value):
            updated[start + offset] = value
    return updated


def past_end(answer_ids, end_ids):
    """True from the first EOS/EoT on: LLaDA pads its answer with them, so what follows is not the reply."""
    flags, ended = [], False
    for token in answer_ids:
        ended = ended or token in end_ids
        flags.append(ended)
    return flags


def render_step_html(texts, states, legend=True, *, confidences=None, source=None, ended=None):
    """One <span class="tok tok-STATE"> per position, HTML-escaped, with inline colours (no CSS needed).

    `confidences` (one float or None per position, scored by `source`) become each token's
    `data-confidence` and hover title and shade the filled and kept ones; `ended` (one bool per position)
    fades what follows EOS/EoT. Newlines are drawn as a visible '↵' before the line break, so a coloured
    newline token is not lost; no other token wraps inside itself, so [MASK] stays whole. The legend's
    "masked" counts every [MASK] after the step (remasked ones included): the count the figure plots.
    """
    confidences = [None] * len(texts) if confidences is None else confidences
    ended = [False] * len(texts) if ended is None else ended
    if not len(texts) == len(states) == len(confidences) == len(ended):
        raise ValueError(f"{len(texts)} texts but {len(states)} states, {len(confidences)} confidences "
                         f"and {len(ended)} end flags")
    if source is None and any(value is not None for value in confidences):
        raise ValueError("confidences need the name of their source")
    for state in states:
        if state not in STATE_STYLES:
            raise ValueError(f"unknown token state {state!r}; choose one of {TOKEN_STATES}")
    shaded = [value for value, state in zip(confidences, states) if value is not None and state in SHADED_STATES]
    scale = (min(shaded), max(shaded)) if shaded else None
    spans = [_token_span(text, state, confidence, source, scale, is_past_end)
             for text, state, confidence, is_past_end in zip(texts, states, confidences, ended)]
    parts = []
    if legend:
        parts.append(_legend(states, source, scale, any(ended)))
    parts.append(
        '<div class="remedi-step" style="font-family:ui-monospace,monospace;white-space:pre-wrap;'
        f'word-break:break-all;line-height:1.8">{"".join(spans)}</div>'
    )
    return "".join(parts)


SUDOKU_CELLS_FROM = len("#### ")  # the answer is '#### <row> <row> ...': cell (r, c) is position 5 + 10 r + c
SUDOKU_ROW_STRIDE = 10  # nine digits and a space, as the question's nine cells and a newline
SUDOKU_ANSWER_TOKENS = SUDOKU_CELLS_FROM + 9 * SUDOKU_ROW_STRIDE - 1


def render_sudoku_grid(texts, states, *, confidences=None, source=None):
    """The answer's 81 cells as a 9x9 table, each cell coloured, shaded and titled like its token.

    In a Sudoku the interesting thing is which cells get decided, kept or sent back, and where they sit
    in the grid; in a line of 94 characters nobody can see that. Cell (r, c) is answer position 5 + 10 r + c (after
    '#### ', rows one space apart); a masked cell is blank. The shade scale is the one of the whole answer, as in the token view.
    """
    if len(texts) < SUDOKU_ANSWER_TOKENS or len(texts) != len(states):
        raise ValueError(f"a Sudoku answer has {SUDOKU_ANSWER_TOKENS} positions; got {len(texts)} texts "
                         f"and {len(states)} states")
    confidences = [None] * len(texts) if confidences is None else confidences
    if source is None and any(value is not None for value in confidences):
        raise ValueError("confidences need the name of their source")
    shaded = [value for value, state in zip(confidences, states) if value is not None and state in SHADED_STATES]
    scale = (min(shaded), max(shaded)) if shaded else None
    rows = []
    for r in range(9):
        cells = []
        for c in range(9):
            i = SUDOKU_CELLS_FROM + SUDOKU_ROW_STRIDE * r + c
            text = " " if texts[i] == MASK_TEXT else texts[i]
            border = "border:1px solid #9ca3af"
            border += ";border-right:2px solid #111827" if c % 3 == 2 else ""
            border += ";border-bottom:2px solid #111827" if r % 3 == 2 else ""
            span = _token_span(text, states[i], confidences[i], source, scale, False)
            cells.append(f'<td style="{border};width:1.6em;height:1.6em;text-align:center;padding:0">{span}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return ('<table class="remedi-sudoku" style="border-collapse:collapse;border:2px solid #111827;'
            f'font-family:ui-monospace,monospace;margin-top:8px">{"".join(rows)}</table>')


def _shade(confidence, scale):
    """Opacity for `confidence` on the view's (lowest, highest) scale; one value alone gets the darkest."""
    low, high = scale
    rank = (confidence - low) / (high - low) if high > low else 1.0
    return MIN_SHADE + (MAX_SHADE - MIN_SHADE) * rank


def _token_span(text, state, confidence, source, scale, is_past_end):
    style = STATE_STYLES[state]
    title = state
    attributes = ""
    if confidence is not None:
        if state in SHADED_STATES:
            red, green, blue = SHADED_STATES[state]
            style += f";background:rgba({red},{green},{blue},{_shade(confidence, scale):.3f})"
        title += f" · {source} confidence {confidence:.3f}"
        attributes += f' data-confidence="{confidence:.6g}"'
    if is_past_end:
        style += f";{PAST_END_STYLE}"
        title += " · after EOS/EoT, not part of the answer"
        attributes += ' data-past-end="true"'
    if "\n" not in text:
        # pre keeps a token's spaces; the [MASK] placeholder has none, so nowrap says the intent plainly.
        style += ";white-space:nowrap" if text == MASK_TEXT else ";white-space:pre"
    shown = html.escape(text).replace("\n", "↵\n")
    return f'<span class="tok tok-{state}" title="{html.escape(title)}" style="{style}"{attributes}>{shown}</span>'


def _legend(states, source, scale, any_past_end):
    counts = {state: states.count(state) for state in TOKEN_STATES}

    def key(state, count):
        return f'<span class="legend legend-{state}" style="{STATE_STYLES[state]};padding:0 4px">{state} {count}</span>'

    # "masked" is every [MASK] after the step, remasked ones included: the count the figure plots.
    keys = [key(MASKED, counts[MASKED] + counts[REMASKED]), key(REMASKED, counts[REMASKED]),
            "(remasked ones count as masked)", key(FILLED, counts[FILLED]), key(KEPT, counts[KEPT])]
    if scale is not None:
        keys.append(f'· <span class="legend legend-confidence">shade: <code>{html.escape(source)}</code> confidence '
                    f"from {scale[0]:.2f} (palest) to {scale[1]:.2f} (darkest); hover a token for its value</span>")
    if any_past_end:
        keys.append(f'· <span class="legend legend-past-end" style="{PAST_END_STYLE}">faded: after EOS/EoT</span>')
    return f'<div class="remedi-legend" style="margin-bottom:6px;font-size:90%">{" ".join(keys)}</div>'


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
