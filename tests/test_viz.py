import io
import re

import pytest
from matplotlib.figure import Figure

from remedi.sampling import generate, scheduled_mask_counts
from remedi.tokenizer import build_char_tokenizer, special_token_ids
from remedi.viz import (FILLED, KEPT, MASK_TEXT, MASKED, REMASKED, mask_count_figure, render_step_html, step_view,
                        token_states)
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
