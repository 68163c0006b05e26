import io
import math
import re

import pytest
from matplotlib.figure import Figure

from remedi.model.loading import load_model_and_tokenizer
from remedi.model.tokenizer import build_char_tokenizer, encode_prompts, special_token_ids
from remedi.sampler.sampling import generate, scheduled_mask_counts
from remedi.demo.viz import (FILLED, KEPT, MASK_TEXT, MASKED, MAX_SHADE, MIN_SHADE, REMASKED, mask_count_figure, past_end,
                        render_step_html, render_sudoku_grid, step_view, token_states, update_confidences)
from tests.helpers import MASK_ID, random_prompt, tiny_remedi


def spans(html_text, state):
    return re.findall(rf'<span class="tok tok-{state}"[^>]*>(.*?)</span>', html_text, flags=re.S)


def test_token_states_follow_the_trace_record():
    record = {"filled": [[0]], "remasked": [[2]]}
    answer = [7, MASK_ID, MASK_ID, 8]  # position 2 was a token before the step, position 3 was kept
    assert token_states(record, answer, MASK_ID) == [FILLED, MASKED, REMASKED, KEPT]


def test_step_view_shows_the_lost_token_of_a_remasked_position():
    tokenizer = build_char_tokenizer()
    mask_id = special_token_ids(tokenizer)["mask_id"]
    a, b, c = tokenizer.convert_tokens_to_ids(["a", "b", "c"])
    before, after = [a, b, mask_id], [a, mask_id, c]
    texts, states = step_view(tokenizer, before, after, {"filled": [[2]], "remasked": [[1]]}, mask_id)
    assert states == [KEPT, REMASKED, FILLED]
    assert texts == ["a", "b", "c"]
    texts, _ = step_view(tokenizer, after, after, {"filled": [[]], "remasked": [[]]}, mask_id)
    assert texts[1] == MASK_TEXT


def test_render_escapes_tokens_and_colours_each_state():
    texts = ["<b>", "&", "\n", MASK_TEXT, "x"]
    states = [FILLED, KEPT, FILLED, MASKED, REMASKED]
    page = render_step_html(texts, states)
    assert "<b>" not in page and "&lt;b&gt;" in page and "&amp;" in page
    assert spans(page, FILLED) == ["&lt;b&gt;", "↵\n"]
    assert spans(page, MASKED) == ["[MASK]"] and spans(page, REMASKED) == ["x"] and spans(page, KEPT) == ["&amp;"]
    assert "filled 2" in page and "masked 1" in page  # the legend counts
    assert "remedi-legend" not in render_step_html(texts, states, legend=False)
    with pytest.raises(ValueError, match="unknown token state"):
        render_step_html(["a"], ["gone"])
    with pytest.raises(ValueError, match="1 texts but 2 states"):
        render_step_html(["a"], [KEPT, KEPT])


@pytest.mark.parametrize("gen_length, block_length, steps", [(16, 8, 8), (10, 5, 4), (12, 12, 5)])
def test_schedule_is_what_the_sampler_does(gen_length, block_length, steps):
    model = tiny_remedi()
    _, trace = generate(model, random_prompt(batch=1), steps=steps, gen_length=gen_length,
                        block_length=block_length, mask_id=MASK_ID, return_trace=True)
    schedule = scheduled_mask_counts(gen_length, block_length, steps)
    assert schedule == [r["masked_count"][0] for r in trace]
    assert len(schedule) == steps and schedule[-1] == 0


def test_mask_count_figure_plots_trace_prefix_against_full_schedule():
    schedule = [6, 4, 2, 0]
    trace = [{"masked_count": [6], "remasked": [[]]}, {"masked_count": [4], "remasked": [[0, 3]]}]
    figure = mask_count_figure(trace, schedule)
    assert isinstance(figure, Figure)
    (axes,) = figure.axes
    schedule_line, dots = axes.lines
    assert list(schedule_line.get_ydata()) == schedule
    assert list(dots.get_xdata()) == [1, 2] and list(dots.get_ydata()) == [6, 4]
    assert [bar.get_height() for bar in axes.patches] == [0, 2]
    figure.savefig(io.BytesIO(), format="png")


def test_html_of_a_real_run_ends_without_masks():
    tokenizer = build_char_tokenizer()  # decodes the helpers' ids (< 40) to characters
    prompt = random_prompt(batch=1)
    out, trace = generate(tiny_remedi(), prompt, steps=4, gen_length=8, block_length=8, mask_id=MASK_ID,
                          return_trace=True)
    answer = out[0, prompt.shape[1]:].tolist()
    # The last step of a block keeps every position, so nothing is remasked and `answer` is also "before".
    texts, states = step_view(tokenizer, answer, answer, trace[-1], MASK_ID)
    page = render_step_html(texts, states)
    assert not spans(page, MASKED) and not spans(page, REMASKED)
    assert len(spans(page, FILLED)) == len(trace[-1]["filled"][0]) > 0
    assert texts == [tokenizer.decode([token]) for token in answer]


def span_tags(html_text):
    return re.findall(r'<span class="tok tok-[^>]*>', html_text)


def shade(tag):
    """The alpha of a span's rgba background (its confidence shading)."""
    return float(re.search(r"background:rgba\(\d+,\d+,\d+,([0-9.]+)\)", tag).group(1))


def legend_count(html_text, state):
    return int(re.search(rf'class="legend legend-{state}"[^>]*>{state} (\d+)<', html_text).group(1))


def test_confidences_update_their_block_and_keep_earlier_scores():
    record = {"block": 1, "confidence": [[0.25, -math.inf, 0.75]]}  # block 1 of 3-token blocks: positions 3..5
    assert update_confidences([None] * 6, record, 3) == [None, None, None, 0.25, None, 0.75]
    assert update_confidences([0.5] * 6, record, 3) == [0.5, 0.5, 0.5, 0.25, 0.5, 0.75]
    # The sampler's trace writes None where LLaDA's order ranks nothing (remask off): kept like -inf.
    traced = {"block": 0, "confidence": [[None, 0.5, None]]}
    assert update_confidences([0.1, 0.2, 0.3], traced, 3) == [0.1, 0.5, 0.3]


def test_past_end_starts_at_the_first_eos_or_eot():
    assert past_end([5, 6, 2, 7, 3], {2, 3}) == [False, False, True, True, True]
    assert past_end([5, 6], {2, 3}) == [False, False]


def test_render_shades_by_confidence_rank_and_titles_each_token():
    texts = ["a", "b", "c", MASK_TEXT, "d"]
    states = [KEPT, KEPT, FILLED, MASKED, REMASKED]
    page = render_step_html(texts, states, confidences=[0.9, 0.6, 0.7, 0.3, None], source="ups")
    high, low, middle, masked, remasked = span_tags(page)
    # Shaded tokens span 0.6..0.9: the lowest gets the palest shade, the highest the darkest, 0.7 a third up.
    assert shade(low) == MIN_SHADE and shade(high) == MAX_SHADE
    assert shade(middle) == pytest.approx(MIN_SHADE + (MAX_SHADE - MIN_SHADE) / 3, abs=1e-3)
    assert "from 0.60 (palest) to 0.90 (darkest)" in page  # masked candidates (0.3) are not on the scale
    assert 'data-confidence="0.9"' in high and 'title="kept · ups confidence 0.900"' in high
    assert 'data-confidence="0.3"' in masked and "rgba" not in masked  # masked positions are not shaded
    assert "data-confidence" not in remasked and 'title="remasked"' in remasked
    assert "white-space:nowrap" in masked
    (alone,) = span_tags(render_step_html(["a"], [KEPT], confidences=[0.2], source="ups"))
    assert shade(alone) == MAX_SHADE
    assert "palest" not in render_step_html(["a"], [KEPT])
    with pytest.raises(ValueError, match="need the name of their source"):
        render_step_html(["a"], [KEPT], confidences=[0.5])
    with pytest.raises(ValueError, match="1 confidences"):
        render_step_html(["a", "b"], [KEPT, KEPT], confidences=[0.5], source="ups")


def test_render_fades_tokens_after_the_end():
    page = render_step_html(["7", "<|eot_id|>", "x"], [KEPT] * 3, ended=[False, True, True])
    first, eot, after = span_tags(page)
    assert "opacity" not in first and "opacity:0.35" in eot and "opacity:0.35" in after
    assert 'data-past-end="true"' in after and "after EOS/EoT" in page
    assert "after EOS/EoT" not in render_step_html(["7"], [KEPT])


def test_legend_masked_count_is_the_plotted_masked_count():
    model, tokenizer = load_model_and_tokenizer()  # the shipped model remasks on its task
    mask_id = special_token_ids(tokenizer)["mask_id"]
    input_ids, attention_mask = encode_prompts(tokenizer, ["Compute 7 - 3 + 5 - 8 + 2."])
    steps = []
    generate(model, input_ids, attention_mask, steps=8, gen_length=32, block_length=32, mask_id=mask_id,
             step_callback=lambda record, x: steps.append((record, x[0, input_ids.shape[1]:].tolist())))
    previous = [mask_id] * 32
    for record, answer in steps:
        page = render_step_html(*step_view(tokenizer, previous, answer, record, mask_id))
        assert legend_count(page, MASKED) == record["masked_count"][0] == answer.count(mask_id)
        assert legend_count(page, REMASKED) == len(record["remasked"][0])
        previous = answer
    assert sum(len(record["remasked"][0]) for record, _ in steps) > 0  # the check covered remasked positions


def _grid_cells(html_text):
    """[(state, text)] of the table cells, in reading order."""
    return re.findall(r'<td[^>]*><span class="tok tok-(\w+)"[^>]*>([^<]*)</span></td>', html_text)


def test_sudoku_grid_puts_answer_position_5_plus_10r_plus_c_in_cell_r_c():
    rows = ["534678912", "672195348", "198342567", "859761423", "426853791", "713924856", "961537284",
            "287419635", "345286179"]
    texts = list("#### " + " ".join(rows)) + [MASK_TEXT] * 2  # 96 positions, as the Sudoku model samples
    states = [KEPT] * 94 + [MASKED] * 2
    texts[5 + 10 * 4 + 4], states[5 + 10 * 4 + 4] = MASK_TEXT, MASKED     # row 5, column 5: still masked
    states[5 + 10 * 8 + 8] = REMASKED                                     # the last cell: sent back, shows 9
    cells = _grid_cells(render_sudoku_grid(texts, states))
    assert len(cells) == 81
    assert [text for _, text in cells] == list("".join(rows[:4]) + rows[4][:4] + " " + rows[4][5:] + "".join(rows[5:]))
    assert cells[9 * 4 + 4] == ("masked", " ") and cells[80] == ("remasked", "9")
    assert [state for state, _ in cells].count("kept") == 79


def test_sudoku_grid_draws_thick_lines_between_boxes_and_refuses_short_answers():
    html_text = render_sudoku_grid([MASK_TEXT] * 94, [MASKED] * 94)
    tds = re.findall(r"<td style=\"([^\"]*)\"", html_text)
    thick_right = [i for i, style in enumerate(tds) if "border-right:2px" in style]
    thick_bottom = [i for i, style in enumerate(tds) if "border-bottom:2px" in style]
    assert thick_right == [9 * r + c for r in range(9) for c in (2, 5, 8)]
    assert thick_bottom == [9 * r + c for r in (2, 5, 8) for c in range(9)]
    with pytest.raises(ValueError, match="94 positions"):
        render_sudoku_grid([MASK_TEXT] * 32, [MASKED] * 32)
