import json
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib.colors import to_rgba

from remedi import LLaDAModelLM, UPSHead, save_ups
from remedi.eval import __main__ as eval_cli
from remedi.eval import plots
from remedi.eval.__main__ import main as eval_main
from remedi.eval.detection import ups_detection
from remedi.grading import answers
from remedi.eval.runner import (SamplerOptions, Setting, build_grid, check_mask_counts,
                                model_has_ups, parse_steps, sample)
from remedi.eval.stats import (accuracy_ci, bootstrap_indices, confusion_matrix, paired_difference_ci, roc_auc)
from remedi.demo.viz import FILLED, KEPT, MASKED, REMASKED, STATE_COLOURS, STATE_STYLES
from remedi.eval.trajectory import first_corrected, replay, trajectory_figure, trajectory_html
from remedi.model.loading import load_model_and_tokenizer
from remedi.model.tiny import build_tiny_random, tiny_config
from remedi.model.tokenizer import build_char_tokenizer
from remedi.sampler.sampling import generate, scheduled_mask_counts
from tests.helpers import MASK_ID, ScriptedModel, random_prompt, tiny_backbone, tiny_remedi

ROOT = Path(__file__).resolve().parents[1]


# ---- answers ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("She pays 5 + 7 = 12 dollars.\n#### 1,234", "1234"),
    ("#### 3.50", "3.5"),
    ("#### -5 and then 7", "-5"),
    ("#### $1,000.00", "1000"),
    ("First 12 eggs, then 3 more, so the answer is 15.", "15"),
    ("It costs 2.0 dollars", "2"),
    ("no digits at all", None),
])
def test_gsm8k_extraction(text, expected):
    assert answers.extract_gsm8k(text) == expected


def test_gsm8k_grading_uses_the_reference_after_hashes():
    reference = "Half of 8 is 8/2=4\n#### 4"
    assert answers.grade("so she has 4.", reference, "gsm8k") == ("4", True)
    assert answers.grade("so she has 40.", reference, "gsm8k") == ("40", False)
    assert answers.grade("", reference, "gsm8k") == (None, False)


REFERENCE_3 = "7-3=4\n4+5=9\n9-8=1\n1+2=3\n#### 3"


def test_answer_formats_are_the_public_list():
    assert answers.ANSWER_FORMATS == ("gsm8k", "strict", "math", "sudoku")
    with pytest.raises(ValueError, match="strict"):
        answers.grade("#### 3", REFERENCE_3, "exact")


def test_garbage_ending_in_the_right_number_scores_only_under_gsm8k():
    garbage = "7-=4+\n==9-#1+=+ 3"  # no '####' at all: gsm8k falls back to the last number, 3
    assert answers.grade(garbage, REFERENCE_3, "gsm8k") == ("3", True)
    assert answers.grade(garbage, REFERENCE_3, "strict") == (None, False)


@pytest.mark.parametrize("completion, strict, gsm8k", [
    ("7-3=4\n4+5=9\n9-8=1\n1+2=3\n#### 3", ("3", True), ("3", True)),
    ("  #### 3 \n\n", ("3", True), ("3", True)),  # surrounding whitespace is stripped
    ("#### 3.0", ("3", True), ("3", True)),
    ("#### 3 extra text", (None, False), ("3", True)),
    ("#### 3.", (None, False), ("3", True)),  # the ending is the number itself, nothing after it
    ("#### 4", ("4", False), ("4", False)),
    ("####", (None, False), (None, False)),
    ("1+2=3\n####", (None, False), ("3", True)),  # '####' with no number: gsm8k falls back, strict does not
    ("#### 1\n#### 3", ("3", True), ("3", True)),  # the last '####' counts
])
def test_strict_grading_against_gsm8k(completion, strict, gsm8k):
    assert answers.grade(completion, REFERENCE_3, "strict") == strict
    assert answers.grade(completion, REFERENCE_3, "gsm8k") == gsm8k


def test_strict_grading_of_decimals_negatives_and_separators():
    assert answers.grade("#### 3", "x = 3.0\n#### 3.0", "strict") == ("3", True)
    assert answers.grade("so -2 - 3 = -5\n#### -5", "#### -5", "strict") == ("-5", True)
    assert answers.grade("#### 5", "#### -5", "strict") == ("5", False)
    assert answers.grade("#### -5", "#### 5", "strict") == ("-5", False)
    assert answers.grade("#### 1,234", "#### 1234", "strict") == ("1234", True)
    assert answers.grade("#### 3,", REFERENCE_3, "strict") == (None, False)
    assert answers.grade("", REFERENCE_3, "strict") == (None, False)


def test_boxed_extraction_takes_the_last_box_with_nested_braces():
    text = r"first \boxed{1} then \boxed{\frac{\sqrt{x^{2}+1}}{2}} done"
    assert answers.extract_boxed(text) == r"\frac{\sqrt{x^{2}+1}}{2}"
    assert answers.extract_boxed(r"\fbox{ 7 }") == "7"
    assert answers.extract_boxed(r"\boxed{\frac{1}{2}") is None  # unclosed
    assert answers.extract_boxed("no box") is None
    assert answers.answer_format(r"so \boxed{3}") == "math" and answers.answer_format("#### 3") == "gsm8k"


def test_math_grading_is_symbolic_with_math_verify():
    pytest.importorskip("math_verify")
    assert answers.grade(r"thus \boxed{0.5}", r"we get \boxed{\frac{1}{2}}", "math") == ("0.5", True)
    assert answers.grade(r"thus \boxed{\frac{1}{3}}", r"\boxed{\frac{1}{2}}", "math")[1] is False
    assert answers.grade("no box here", r"\boxed{2}", "math") == (None, False)
    in_thread = []  # a Gradio handler or a worker pool grades outside the main thread
    worker = threading.Thread(target=lambda: in_thread.append(answers.math_equal("0.5", r"\frac{1}{2}")))
    worker.start()
    worker.join()
    assert in_thread == [True]


def test_math_grading_falls_back_to_normalised_strings_with_a_warning(monkeypatch):
    monkeypatch.setattr(answers, "math_verify", None)
    with pytest.warns(UserWarning, match="math-verify is not installed"):
        assert answers.math_equal(r"\dfrac{1}{2}", r"\frac{1}{2}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert answers.math_equal(r"\left( 1, 2 \right)", "(1,2)")
        assert answers.math_equal("3.0", "3")
        assert not answers.math_equal("0.5", r"\frac{1}{2}")  # what math-verify would catch


# ---- statistics --------------------------------------------------------------------------------------------

def test_bootstrap_ci_contains_the_estimate_and_narrows_with_more_problems():
    widths = []
    for n in (20, 400):
        correct = (np.arange(n) % 3 == 0).astype(float)  # accuracy 1/3 whatever n
        ci = accuracy_ci(correct, bootstrap_indices(n, 1000, seed=1))
        assert ci["lo"] <= ci["mean"] <= ci["hi"] and ci["n"] == n
        assert ci["mean"] == pytest.approx(correct.mean())
        widths.append(ci["hi"] - ci["lo"])
    assert widths[1] < widths[0] / 2


def test_paired_difference_ci_on_a_hand_example():
    a = np.array([1, 1, 1, 0, 1, 0, 1, 1])
    b = np.array([1, 1, 0, 0, 1, 0, 1, 1])  # a is right wherever b is, and on one more problem
    indices = bootstrap_indices(len(a), 2000, seed=0)
    diff = paired_difference_ci(a, b, indices)
    assert diff["mean"] == pytest.approx(1 / 8)
    assert diff["lo"] >= 0.0 and diff["hi"] <= 0.5  # never negative: no resample can favour b
    same = paired_difference_ci(a, a, indices)
    assert same["lo"] == same["hi"] == 0.0  # pairing: identical settings differ by exactly 0 ...
    alone = accuracy_ci(a, indices)
    assert alone["hi"] - alone["lo"] > 0.3  # ... although each accuracy alone is uncertain
    with pytest.raises(ValueError, match="same problems"):
        paired_difference_ci(a, b[:4], indices)


def test_roc_auc_hand_examples_and_ties():
    assert roc_auc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]) == pytest.approx(0.75)
    assert roc_auc([0.2, 0.5, 0.5, 0.9], [0, 0, 1, 1]) == pytest.approx(0.875)  # the tie counts 1/2
    assert roc_auc([0.5] * 4, [0, 1, 0, 1]) == pytest.approx(0.5)
    assert roc_auc([0.3, 0.2], [1, 1]) is None


def test_roc_auc_equals_the_pairwise_definition():
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 5, size=60).astype(float)  # many ties
    labels = rng.random(60) < 0.4
    pos, neg = scores[labels], scores[~labels]
    pairwise = ((pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])).mean()
    assert roc_auc(scores, labels) == pytest.approx(pairwise)


def test_confusion_matrix_counts():
    m = confusion_matrix([1, 1, 0, 0, 1], [1, 0, 0, 1, 1])
    assert (m["tp"], m["fp"], m["fn"], m["tn"]) == (2, 1, 1, 1)
    assert m["accuracy"] == pytest.approx(3 / 5) and m["precision"] == pytest.approx(2 / 3)


# ---- UPS detection -----------------------------------------------------------------------------------------

def _oracle_detection(sign, replacement="uniform"):
    vocab, eos, mask = 40, 2, MASK_ID
    g = torch.Generator().manual_seed(0)
    clean = torch.randint(10, 39, (6, 24), generator=g)
    clean[:, -3:] = eos  # EOS padding, excluded from the answer segment
    prompt_lengths = torch.full((6,), 5)
    seen = [0]  # rows scored so far: detection feeds the rows in order, batch by batch, once per t

    def oracle(x):  # the stand-in's UPS knows the clean answer: +5 where a token is right, -5 where replaced;
        start = seen[0] % len(clean)  # it also distrusts EOS padding, which detection must not score
        seen[0] += len(x)
        return sign * torch.where((x == clean[start : start + len(x)]) & (x != eos), 5.0, -5.0)

    model = ScriptedModel(lambda x: torch.zeros(*x.shape, vocab), oracle)
    return ups_detection(model, clean, prompt_lengths, t_values=[0.3, 0.6], mask_id=mask, eos_id=eos,
                         vocab_size=vocab, special_ids=[0, 1, 2, 3, 4], r_incorrect=0.8, replacement=replacement,
                         batch_size=4)


def test_detection_with_an_oracle_ups_is_perfect():
    result = _oracle_detection(sign=1)
    for row in result["per_t"] + [result["pooled"]] + _oracle_detection(sign=1, replacement="batch")["per_t"]:
        assert row["n_incorrect"] > 0 and row["n_clean"] > 0
        assert row["roc_auc"] == 1.0 and row["token_accuracy"] == 1.0
        assert row["confusion"]["fp"] == row["confusion"]["fn"] == 0
    assert _oracle_detection(sign=-1)["pooled"]["roc_auc"] == 0.0  # orientation: high UPS = trusted


def test_detection_refuses_a_model_without_ups():
    with pytest.raises(ValueError, match="UPS head"):
        ups_detection(tiny_backbone(), torch.randint(5, 30, (2, 12)), torch.tensor([4, 4]), t_values=[0.5],
                      mask_id=MASK_ID, eos_id=2, vocab_size=40, special_ids=[0, 1, 2, 3])


# ---- runner: grid, schedule check ------------------------------------------------------------------------

def test_step_budgets_and_grid():
    assert parse_steps(["1/1", "1/2", "0.25", "7", "16"], 32) == [32, 16, 8, 7]
    with pytest.raises(ValueError, match="whole number"):
        parse_steps(["1/3"], 32)
    settings, notes = build_grid(["random", "ups"], [False, True], [16, 3], [16, 8, 5], 16, has_ups=False)
    assert {s.source for s in settings} == {"random"} and any("no UPS head" in n for n in notes)
    assert any("block_length=5" in n for n in notes) and any("steps=3" in n for n in notes)
    assert Setting("random", False, 16, 8) in settings and Setting("random", True, 16, 16) in settings
    assert model_has_ups(tiny_remedi(), 2) and not model_has_ups(tiny_backbone(), 2)


def test_mask_count_check_flags_a_wrong_schedule():
    model = tiny_remedi()
    _, trace = generate(model, random_prompt(), steps=6, gen_length=16, block_length=16, mask_id=MASK_ID,
                        return_trace=True)
    assert scheduled_mask_counts(16, 16, 6) == [13, 10, 7, 4, 2, 0]
    assert check_mask_counts(trace, 16, 16, 6) == {"ok": True, "max_error": 0}
    assert not check_mask_counts(trace, 16, 8, 6)["ok"]  # 2 blocks of 3 steps: 13 10 8 5 2 0
    assert not check_mask_counts(trace, 16, 16, 8)["ok"]  # a different number of steps
    trace[2]["masked_count"][1] += 1
    assert check_mask_counts(trace, 16, 16, 6) == {"ok": False, "max_error": 1}


# ---- figures -----------------------------------------------------------------------------------------------

def _schedule_result(source, remask, steps, observed=None):
    expected = [32 - 32 * (n + 1) // steps for n in range(steps)]
    return {"source": source, "remask": remask, "steps": steps, "block_length": 32, "masked_expected": expected,
            "masked_observed_mean": observed or expected, "mask_schedule_ok": observed is None}


def test_mask_counts_by_setting_figure_has_one_legend_below_the_panels_and_names_off_schedule_settings():
    results = [_schedule_result(source, remask, steps) for steps in (32, 8, 4)
               for source in ("random", "tps_prob", "ups") for remask in (False, True)]
    results[1] = _schedule_result("random", True, 32, observed=[31] * 32)
    figure = plots.mask_counts_by_setting_figure(results)
    assert [axes.get_legend() for axes in figure.axes] == [None] * 3  # no legend drawn over the lines
    names = [text.get_text() for text in figure.legends[0].get_texts()]
    assert names == ["LLaDA schedule", "random", "random + remask", "tps_prob", "tps_prob + remask", "ups",
                     "ups + remask"]
    titles = [axes.get_title() for axes in figure.axes]
    assert titles == ["32 steps, block length 32\nOFF SCHEDULE: random + remask", "8 steps, block length 32",
                      "4 steps, block length 32"]


def test_remask_figure_draws_only_remasking_settings_under_one_legend():
    results = [dict(_schedule_result(source, remask, steps), remasks_per_step=[0] * steps)
               for steps in (8, 4) for source in ("tps_prob", "ups") for remask in (False, True)]
    figure = plots.remask_figure(results)
    assert [axes.get_legend() for axes in figure.axes] == [None] * 2
    assert [text.get_text() for text in figure.legends[0].get_texts()] == ["tps_prob + remask", "ups + remask"]
    assert plots.remask_figure([r for r in results if not r["remask"]]) is None


# ---- trajectories ------------------------------------------------------------------------------------------

def _hand_trace():
    m = 9  # mask id; final answer [5, 7, 8]
    return [
        {"block": 0, "step": 0, "filled": [[0, 1]], "remasked": [[]], "masked_count": [1], "tokens": [[5, 6, m]]},
        {"block": 0, "step": 1, "filled": [[2]], "remasked": [[1]], "masked_count": [1], "tokens": [[5, m, 8]]},
        {"block": 0, "step": 2, "filled": [[1]], "remasked": [[]], "masked_count": [0], "tokens": [[5, 7, 8]]},
    ]


def test_replay_finds_wrong_remasked_corrected_positions():
    states, tokens, corrected = replay(_hand_trace(), mask_id=9)
    assert corrected == [1]
    assert states[0] == [FILLED, FILLED, "masked"] and states[1][1] == REMASKED and tokens[1][1] == 6
    assert states[2] == ["kept", FILLED, "kept"]
    with pytest.raises(ValueError, match="no token ids"):
        replay([{k: v for k, v in r.items() if k != "tokens"} for r in _hand_trace()], mask_id=9)


def test_trajectory_html_and_png_show_the_correction(tmp_path):
    _, tokenizer = build_tiny_random()
    page = trajectory_html(_hand_trace(), tokenizer, mask_id=9, title="hand <trace>")
    assert "hand &lt;trace&gt;" in page and page.count("<tr>") == 4
    assert "line-through" in page and "1 positions corrected" in page
    trajectory_figure(_hand_trace(), mask_id=9).savefig(tmp_path / "t.png")
    assert (tmp_path / "t.png").stat().st_size > 1000


def test_trajectory_draws_each_state_in_the_colour_of_remedi_viz():
    """One picture of a step: the eval's table and figure colour a state as the app does."""
    _, tokenizer = build_tiny_random()
    page = trajectory_html(_hand_trace(), tokenizer, mask_id=9)
    for state in (MASKED, FILLED, REMASKED, KEPT):
        assert f'<td class="{state}" style="{STATE_STYLES[state]}' in page
    image = trajectory_figure(_hand_trace(), mask_id=9).axes[0].images[0]
    cells = image.to_rgba(image.get_array())
    # The hand trace: step 0 fills 5 (final) and 6 (wrong), step 1 remasks the 6, step 2 keeps the 5.
    expected = {(0, 0): STATE_COLOURS[FILLED], (0, 2): STATE_COLOURS[MASKED], (1, 1): STATE_COLOURS[REMASKED],
                (2, 0): STATE_COLOURS[KEPT]}
    for (step, position), colour in expected.items():
        assert tuple(cells[step, position]) == pytest.approx(to_rgba(colour))
    wrong = tuple(cells[0, 1])
    assert all(wrong != pytest.approx(to_rgba(colour)) for colour in STATE_COLOURS.values())


def _straight_trace(rows):
    """A two-step trace in which every row fills its final tokens [5, 7] directly: nothing to correct."""
    return [
        {"block": 0, "step": 0, "filled": [[0]] * rows, "remasked": [[]] * rows, "masked_count": [1] * rows,
         "tokens": [[5, 9]] * rows},
        {"block": 0, "step": 1, "filled": [[1]] * rows, "remasked": [[]] * rows, "masked_count": [0] * rows,
         "tokens": [[5, 7]] * rows},
    ]


def test_first_corrected_takes_the_first_trajectory_with_a_correction_and_stops_sampling():
    def candidates():
        yield [0, 1], _straight_trace(2)
        yield [2], _hand_trace()
        raise AssertionError("sampled past the first correction")

    index, trace, row, corrected = first_corrected(candidates(), mask_id=9)
    assert (index, row, corrected) == (2, 0, [1]) and trace[1]["remasked"] == [[1]]
    index, trace, row, corrected = first_corrected(iter([([4, 5], _straight_trace(2))]), mask_id=9)
    assert (index, row, corrected) == (4, 0, [])  # no correction anywhere: the first problem
    assert first_corrected(iter([]), mask_id=9) is None


def test_sampled_trace_tokens_replay_to_the_returned_answer():
    model, tokenizer = build_tiny_random()
    texts, answer_ids, trace = sample(model, tokenizer, ["Add 2 and 3."], Setting("ups", True, 8, 8),
                                      SamplerOptions(gen_length=16))
    assert trace[-1]["tokens"][0] == answer_ids[0].tolist()
    states, _, _ = replay(trace, tokenizer.mask_token_id)
    assert [s.count("masked") + s.count(REMASKED) for s in states] == [r["masked_count"][0] for r in trace]


# ---- end to end --------------------------------------------------------------------------------------------

def test_questions_with_characters_outside_the_alphabet_get_one_warning(tmp_path, capsys):
    data = tmp_path / "mini.jsonl"
    data.write_text("".join(json.dumps({"question": q, "answer": "#### 1"}) + "\n" for q in ("1 €?", "ü €", "1+0")))
    args = eval_cli.parse_args(["--data", str(data), "--limit", "0"])
    problems, _ = eval_cli.load_problems(args, build_char_tokenizer(), context=None)
    assert len(problems) == 3
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    assert warnings == ["warning: characters not in the tokenizer's alphabet become <|unk|>: '€', 'ü'"]


def test_skip_leaves_out_the_first_problems(tmp_path):
    data = tmp_path / "mini.jsonl"
    data.write_text("".join(json.dumps({"question": f"{n} + 0", "answer": f"#### {n}"}) + "\n" for n in range(5)))
    args = eval_cli.parse_args(["--data", str(data), "--skip", "2", "--limit", "2"])
    problems, _ = eval_cli.load_problems(args, build_char_tokenizer(), context=None)
    assert [question for question, _, _ in problems] == ["2 + 0", "3 + 0"]
    args = eval_cli.parse_args(["--data", str(data), "--skip", "5"])
    with pytest.raises(ValueError, match="leaves nothing"):
        eval_cli.load_problems(args, build_char_tokenizer(), context=None)


def test_cli_end_to_end_on_the_tiny_model(tmp_path, one_thread):
    data = tmp_path / "mini.jsonl"
    rows = [{"question": f"What is {a} + {b}?", "answer": f"{a} + {b} = {a + b}\n#### {a + b}"}
            for a, b in [(1, 2), (3, 4), (10, 5), (7, 7)]]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out"
    report = eval_main(["--data", str(data), "--limit", "0", "--gen-length", "8", "--steps", "1/1", "1/4",
                        "--block-lengths", "8", "4", "--batch-size", "3", "--detection-t", "0.3", "0.7",
                        "--n-boot", "200", "--out", str(out)])
    for name in ("results.json", "results.md", "accuracy.png", "mask_counts.png", "remasks.png",
                 "trajectory.html", "trajectory.png"):
        assert (out / name).stat().st_size > 0, name
    saved = json.loads((out / "results.json").read_text())
    assert saved["n_problems"] == 4 and len(saved["settings"]) == 3 * 2 * 2 * 2
    for result in saved["settings"]:
        assert result["mask_schedule_ok"] and result["n"] == 4 and len(result["correct"]) == 4
        assert result["masked_observed_mean"] == result["masked_expected"]
        assert result["accuracy"]["lo"] <= result["accuracy"]["mean"] <= result["accuracy"]["hi"]
        assert (result["remasks_per_answer"] > 0) <= result["remask"]  # only remasking runs remask
        assert result["seconds_per_step"] > 0 and result["tokens_per_second"] > 0
    assert set(saved["latency_by_source"]) == {"random", "tps_prob", "ups"}
    assert [row["t"] for row in saved["detection"]["per_t"]] == [0.3, 0.7]
    assert saved["trajectory"]["setting"].startswith("ups+remask steps=8")
    table = (out / "results.md").read_text()
    assert table.count("\n| ups | on |") == 4 and "ROC-AUC" in table
    assert report["settings"][0]["name"] == saved["settings"][0]["name"]


def test_cli_draws_the_first_problem_whose_trajectory_has_a_correction(tmp_path, one_thread):
    """The shipped model with its Remask SFT head rarely refills a remasked position with a different token:
    on the first 40 held-out chains at 32 steps problem 0 shows none, so the default figure used to show no
    correction at all."""
    fixture = ROOT / "tests" / "fixtures" / "arith_test50.jsonl"
    data = tmp_path / "arith.jsonl"
    data.write_text("".join(fixture.read_text().splitlines(keepends=True)[:40]))
    sft_ups = str(ROOT / "models" / "remedi-tiny-arith" / "ups-sft")
    common = ["--model", str(ROOT / "models" / "remedi-tiny-arith"), "--ups", sft_ups, "--data", str(data), "--limit", "0",
              "--gen-length", "32", "--steps", "1/1", "--sources", "ups", "--remask-modes", "on", "--no-detection",
              "--batch-size", "16", "--n-boot", "50"]
    report = eval_main(common + ["--out", str(tmp_path / "searched")])
    trajectory = report["trajectory"]
    assert trajectory["corrected"] and trajectory["chosen_by"] == "the first of problems 0-39 with a correction"
    assert f"problem {trajectory['problem']}," in (tmp_path / "searched" / "trajectory.html").read_text()
    model, tokenizer = load_model_and_tokenizer(common[1], ups_path=sft_ups)
    earlier = [json.loads(line)["question"] for line in data.read_text().splitlines()][:trajectory["problem"]]
    _, _, trace = sample(model, tokenizer, earlier, Setting("ups", True, 32, 32), SamplerOptions(gen_length=32))
    assert all(replay(trace, tokenizer.mask_token_id, row)[2] == [] for row in range(len(earlier)))
    args = eval_cli.parse_args(common + ["--trajectory-index", "0", "--out", str(tmp_path)])
    pinned = eval_cli.draw_trajectory(model, tokenizer, [(q, "", "strict") for q in earlier],
                                      Setting("ups", True, 32, 32), SamplerOptions(gen_length=32), args)
    assert (pinned["problem"], pinned["corrected"], pinned["chosen_by"]) == (0, [], "--trajectory-index")


def test_cli_skips_ups_and_detection_for_a_model_without_ups_head(tmp_path, one_thread):
    model, tokenizer = build_tiny_random()
    model.backbone.save_pretrained(tmp_path / "base")  # the backbone alone: no UPS head, no ups/ folder
    tokenizer.save_pretrained(tmp_path / "base")
    data = tmp_path / "mini.jsonl"
    data.write_text(json.dumps({"question": "What is 1 + 2?", "answer": "#### 3"}) + "\n")
    out = tmp_path / "out"
    report = eval_main(["--model", str(tmp_path / "base"), "--data", str(data), "--gen-length", "8",
                        "--steps", "1/2", "--out", str(out)])
    assert {r["source"] for r in report["settings"]} == {"random", "tps_prob"}
    assert report["detection"] is None and report["trajectory"]["setting"].startswith("tps_prob+remask")
    assert any("skipped source 'ups'" in n for n in report["notes"])
    assert "skipped source 'ups'" in (out / "results.md").read_text() and (out / "trajectory.html").exists()



def scripted_writer(tokenizer, text, gen_length):
    """A stand-in model that writes `text` (then EOS) as its answer whatever the prompt and the order."""
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    answer = torch.tensor(ids + [tokenizer.eos_token_id] * (gen_length - len(ids)))

    def logits(x):
        out = torch.zeros(*x.shape, len(tokenizer))
        if x.shape[1] > gen_length:  # a sampler's input, not model_has_ups' one-token probe
            out[:, -gen_length:] = 10 * torch.nn.functional.one_hot(answer, len(tokenizer)).float()
        return out

    return ScriptedModel(logits)


@pytest.mark.parametrize("answer_format", ["strict", "gsm8k"])
def test_cli_reports_the_gsm8k_score_beside_strict_where_they_differ(tmp_path, monkeypatch, answer_format):
    tokenizer = build_char_tokenizer()
    model = scripted_writer(tokenizer, "so it is 7", gen_length=16)  # right number, no '####'
    monkeypatch.setattr(eval_cli, "load_model_and_tokenizer", lambda *args: (model, tokenizer))
    data = tmp_path / "mini.jsonl"
    data.write_text("".join(json.dumps({"question": f"Q{n}", "answer": f"#### {n}"}) + "\n" for n in (7, 8)))
    out = tmp_path / "out"
    report = eval_main(["--data", str(data), "--limit", "0", "--gen-length", "16", "--steps", "1/1",
                        "--answer-format", answer_format, "--n-boot", "50", "--out", str(out)])
    saved = json.loads((out / "results.json").read_text())
    table = (out / "results.md").read_text()
    assert saved["grading"]["formats"] == [answer_format] and report["settings"][0]["completions"][0] == "so it is 7"
    if answer_format == "strict":
        assert saved["grading"]["conventional_differs"]
        assert "accuracy (gsm8k) |" in table and "| 0.0% [0.0, 0.0] | 50.0% [" in table
        for result in saved["settings"]:
            assert result["correct"] == [False, False] and result["correct_conventional"] == [True, False]
            assert result["accuracy"]["mean"] == 0.0 and result["accuracy_conventional"]["mean"] == 0.5
    else:
        assert not saved["grading"]["conventional_differs"] and "accuracy (" not in table
        for result in saved["settings"]:
            assert result["correct"] == [True, False] and "accuracy_conventional" not in result


def test_cli_grades_sudoku_against_the_question_givens(tmp_path, monkeypatch):
    # A hand-typed solved grid with 1 and 2 swapped: still a valid grid, but not the reference solution.
    solution = ("534678912672195348198342567859761423426853791713924856961537284287419635345286179")
    other = solution.translate(str.maketrans("12", "21"))
    tokenizer = build_char_tokenizer()
    model = scripted_writer(tokenizer, "#### " + other, gen_length=96)
    monkeypatch.setattr(eval_cli, "load_model_and_tokenizer", lambda *args: (model, tokenizer))
    no_givens = "\n".join(["Sudoku:"] + ["........."] * 9)
    givens_kept = "\n".join(["Sudoku:"] + [other[9 * r : 9 * r + 5] + "...." for r in range(9)])
    givens_broken = "\n".join(["Sudoku:"] + [solution[9 * r : 9 * r + 5] + "...." for r in range(9)])
    data = tmp_path / "sudoku.jsonl"
    data.write_text("".join(json.dumps({"question": q, "answer": "#### " + solution}) + "\n"
                            for q in (no_givens, givens_kept, givens_broken)))
    report = eval_main(["--data", str(data), "--limit", "0", "--gen-length", "96", "--steps", "1/1",
                        "--sources", "tps_prob", "--remask-modes", "off", "--answer-format", "sudoku",
                        "--no-detection", "--n-boot", "50", "--out", str(tmp_path / "out")])
    assert report["settings"][0]["completions"][0] == "#### " + other
    assert report["settings"][0]["correct"] == [True, True, False]


def test_cli_reports_each_kv_cache_next_to_no_cache(tmp_path, one_thread):
    tokenizer = build_char_tokenizer()
    torch.manual_seed(0)
    config = tiny_config(tokenizer, d_model=32, n_layers=2, n_heads=4, n_kv_heads=2, mlp_hidden_size=48,
                         attention_layout="block_causal", attention_block_length=4)
    backbone = LLaDAModelLM(config)
    backbone.save_pretrained(tmp_path / "bc")
    tokenizer.save_pretrained(tmp_path / "bc")
    save_ups(UPSHead(config.hidden_size, 8), tmp_path / "bc" / "ups")
    data = tmp_path / "mini.jsonl"
    data.write_text("".join(json.dumps({"question": f"What is {a} + 2?", "answer": f"#### {a + 2}"}) + "\n"
                            for a in range(3)))
    report = eval_main(["--model", str(tmp_path / "bc"), "--data", str(data), "--gen-length", "8", "--steps", "1/2",
                        "--block-lengths", "4", "--kv-cache", "none", "exact", "dual", "--sources", "tps_prob", "ups",
                        "--n-boot", "50", "--out", str(tmp_path / "out")])
    assert any("skipped kv_cache=dual: kv_cache='dual' approximates a bidirectional model" in n for n in report["notes"])
    exact = [r for r in report["settings"] if r["kv_cache"] == "exact"]
    assert len(exact) == 4 and all(r["same_as_no_cache"] == 1.0 for r in exact)
    assert all(r["vs_baseline"] is not None for r in exact)  # compared with LLaDA's uncached sampler
    assert "| tps_prob | off | 4 | 4 | exact | 100.0% |" in (tmp_path / "out" / "results.md").read_text()
    assert set(report["latency_by_source"]) == {"tps_prob", "ups", "tps_prob cache=exact", "ups cache=exact"}
