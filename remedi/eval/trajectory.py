"""One answer's denoising, step by step, as an HTML table and a PNG: where did remasking fix a token?

The sampler's trace (`generate(..., return_trace=True)`, or `runner.sample`) holds each step's filled
and remasked positions and the answer ids after the step.
Replaying it gives, for every (step, position), one of remedi/demo/viz.py's four token states (masked,
filled, remasked, kept; drawn in its colours), and whether the token shown differs from the final
answer ("wrong" relative to where the sampler ended up; the reference solution cannot be aligned token
by token). A position that once held a wrong token and was later remasked is a *correction*:
wrong -> remasked -> corrected. These are the events remasking exists for, so they get a marked column.
"""

import html

import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from remedi.demo.viz import FILLED, KEPT, MASKED, REMASKED, STATE_COLOURS, STATE_STYLES, token_states

# "Wrong" = differs from the final answer: amber, a colour no token state uses.
WRONG_COLOURS = {FILLED: "#f59e0b", KEPT: "#fde68a"}
WRONG_STYLE = "box-shadow:inset 0 -3px 0 #d97706"
# Cell categories of the PNG, in colormap order.
CATEGORIES = (MASKED, FILLED, f"{FILLED} (wrong)", KEPT, f"{KEPT} (wrong)", REMASKED)
COLOURS = (STATE_COLOURS[MASKED], STATE_COLOURS[FILLED], WRONG_COLOURS[FILLED], STATE_COLOURS[KEPT],
           WRONG_COLOURS[KEPT], STATE_COLOURS[REMASKED])


def replay(trace, mask_id, row=0):
    """(states, tokens, corrected): (steps, L) state names, (steps, L) ids shown, sorted corrected positions.

    A remasked cell shows the token it lost. Needs trace records with `tokens`, as the sampler writes them.
    """
    if not trace or "tokens" not in trace[0]:
        raise ValueError("the trace has no token ids (`tokens`): pass a trace from generate(..., return_trace=True)")
    final = trace[-1]["tokens"][row]
    previous = [mask_id] * len(final)
    states, tokens = [], []
    held_wrong, corrected = set(), set()
    for record in trace:
        after = record["tokens"][row]
        step_states = token_states(record, after, mask_id, row)
        step_tokens = []
        for position, (state, token) in enumerate(zip(step_states, after)):
            if state == REMASKED:
                token = previous[position]
                if position in held_wrong:
                    corrected.add(position)
            if state in (FILLED, KEPT) and token != final[position]:
                held_wrong.add(position)
            step_tokens.append(token)
        states.append(step_states)
        tokens.append(step_tokens)
        previous = after
    return states, tokens, sorted(corrected)


def first_corrected(candidates, mask_id):
    """(problem index, trace, row, corrected) of the first trajectory with a correction, else of the first one.

    `candidates` yields (problem indices, the batched trace that sampled them), and is consumed lazily, so
    a search stops sampling at the batch that holds the first correction. None when it yields nothing.
    """
    first = None
    for indices, trace in candidates:
        for row, index in enumerate(indices):
            corrected = replay(trace, mask_id, row)[2]
            if corrected:
                return index, trace, row, corrected
            if first is None:
                first = (index, trace, row, corrected)
    return first


def _categories(states, tokens, final):
    """(steps, L) int matrix indexing CATEGORIES."""
    index = {name: i for i, name in enumerate(CATEGORIES)}
    grid = np.zeros((len(states), len(final)), dtype=int)
    for s, (step_states, step_tokens) in enumerate(zip(states, tokens)):
        for p, (state, token) in enumerate(zip(step_states, step_tokens)):
            wrong = state in (FILLED, KEPT) and token != final[p]
            grid[s, p] = index[f"{state} (wrong)" if wrong else state]
    return grid


def trajectory_html(trace, tokenizer, mask_id, title="", row=0):
    """A self-contained HTML page: one table row per step, one column per answer position."""
    states, tokens, corrected = replay(trace, mask_id, row)
    final = trace[-1]["tokens"][row]
    texts = {}

    def text(token_id):
        if token_id not in texts:
            shown = "[M]" if token_id == mask_id else tokenizer.decode([token_id])
            texts[token_id] = html.escape(shown).replace("\n", "\u21b5") or "&nbsp;"
        return texts[token_id]

    corrected_set = set(corrected)
    header = "".join(
        f'<th style="{"background:#fca5a5" if p in corrected_set else ""}" '
        f'title="{"corrected: wrong, remasked, then final" if p in corrected_set else ""}">{p}</th>'
        for p in range(len(final))
    )
    rows = []
    for s, (step_states, step_tokens) in enumerate(zip(states, tokens)):
        record = trace[s]
        cells = []
        for p, (state, token) in enumerate(zip(step_states, step_tokens)):
            style = STATE_STYLES[state]
            if state in (FILLED, KEPT) and token != final[p]:
                style += ";" + WRONG_STYLE
            cells.append(f'<td class="{state}" style="{style}">{text(token)}</td>')
        label = f'b{record["block"]} s{record["step"]} | {record["masked_count"][row]}m {len(record["remasked"][row])}r'
        rows.append(f"<tr><th>{label}</th>{''.join(cells)}</tr>")
    legend = " ".join(f'<span style="{STATE_STYLES[n]};padding:0 4px">{n}</span>' for n in STATE_STYLES)
    legend += f' <span style="{WRONG_STYLE};padding:0 4px">differs from final</span>'
    legend += ' <span style="background:#fca5a5;padding:0 4px">corrected position (header)</span>'
    summary = (f"{len(trace)} steps, {sum(len(r['remasked'][row]) for r in trace)} tokens remasked, "
               f"{len(corrected)} positions corrected (wrong &rarr; remasked &rarr; final): {corrected}")
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>RemeDi trajectory</title><style>"
        "table{border-collapse:collapse;font-family:ui-monospace,monospace;font-size:12px}"
        "td,th{border:1px solid #e5e7eb;padding:1px 3px;white-space:pre;text-align:center}"
        "th{font-weight:normal;color:#6b7280}</style></head><body>"
        f"<h3>{html.escape(title)}</h3><p>{summary}</p><p>{legend}</p>"
        f"<p>final answer: <code>{html.escape(tokenizer.decode(final, skip_special_tokens=True))}</code></p>"
        f"<div style='overflow-x:auto'><table><tr><th>step</th>{header}</tr>{''.join(rows)}</table></div>"
        "</body></html>"
    )


def trajectory_figure(trace, mask_id, title="", row=0):
    """A (steps x positions) colour map of the same states; corrected positions marked above the grid."""
    states, tokens, corrected = replay(trace, mask_id, row)
    grid = _categories(states, tokens, trace[-1]["tokens"][row])
    steps, length = grid.shape
    size = (min(16, max(6, 3 + length * 0.08)), min(12, max(3, 2 + steps * 0.08)))
    figure = Figure(figsize=size, layout="constrained")
    axes = figure.add_subplot()
    image = axes.imshow(grid, cmap=ListedColormap(COLOURS), vmin=-0.5, vmax=len(CATEGORIES) - 0.5,
                        aspect="auto", interpolation="nearest")
    axes.plot(corrected, [-0.5] * len(corrected), "v", color="#b91c1c", markersize=6, clip_on=False)
    title = f"{title}\n{len(corrected)} corrected positions (red marks: wrong -> remasked -> final)"
    colorbar = figure.colorbar(image, ax=axes, ticks=range(len(CATEGORIES)))
    colorbar.ax.set_yticklabels(CATEGORIES)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("answer position")
    axes.set_ylabel("step")
    axes.set_title(title, fontsize="medium", loc="left")
    return figure
