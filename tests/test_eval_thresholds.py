"""The evaluation's threshold grid, stop at EOS, and its forward-pass counts."""

import json
from pathlib import Path

import pytest

from remedi.eval import plots
from remedi.eval.__main__ import main as eval_main
from remedi.eval.runner import check_mask_counts, forward_passes_per_row
from remedi.sampler.sampling import generate
from tests.helpers import MASK_ID, random_prompt, tiny_remedi

ROOT = Path(__file__).resolve().parents[1]


def test_mask_count_check_with_a_threshold_allows_fewer_masks_never_more():
    _, trace = generate(tiny_remedi(seed=7), random_prompt(), steps=16, gen_length=16, block_length=8,
                        mask_id=MASK_ID, confidence_source="tps_prob", remask=False, return_trace=True, threshold=0.2)
    assert len(trace) < 16
    assert not check_mask_counts(trace, 16, 8, 16)["ok"]  # not the fixed schedule
    assert check_mask_counts(trace, 16, 8, 16, at_most=True) == {"ok": True, "max_error": 0}
    trace[0]["masked_count"][1] = 16  # one more than the schedule's 15 after the first step
    assert check_mask_counts(trace, 16, 8, 16, at_most=True) == {"ok": False, "max_error": 1}


def test_forward_passes_per_row_counts_the_steps_each_row_was_running():
    trace = [{"forward_passes": 2, "active": [True, True]}, {"forward_passes": 2, "active": [True, False]},
             {"forward_passes": 2, "active": [False, True]}]
    assert forward_passes_per_row(trace) == [4, 4]
    assert forward_passes_per_row([]) == []


def test_cli_threshold_grid_on_the_shipped_model_reports_passes_and_pairs_against_the_fixed_schedule(
        tmp_path, one_thread):
    data = ROOT / "tests" / "fixtures" / "arith_test50.jsonl"
    out = tmp_path / "out"
    eval_main(["--data", str(data), "--limit", "12", "--gen-length", "32", "--steps", "1/1", "--batch-size", "6",
               "--sources", "tps_prob", "--remask-modes", "off", "--thresholds", "none", "0.9", "none",
               "--answer-format", "strict", "--no-detection", "--n-boot", "200", "--trajectory-search", "6",
               "--out", str(out)])
    saved = json.loads((out / "results.json").read_text())
    baseline, fast = saved["settings"]  # 'none' given twice runs once
    assert (baseline["threshold"], fast["threshold"]) == (None, 0.9)
    assert baseline["forward_passes"] == [32] * 12 and baseline["sampler_steps"] == 2 * 32
    assert all(1 <= p < 32 for p in fast["forward_passes"])
    assert fast["forward_passes_per_answer"] == sum(fast["forward_passes"]) / 12
    assert fast["sampler_steps"] <= 2 * max(fast["forward_passes"])
    assert baseline["vs_baseline"] is None and fast["vs_baseline"] is not None
    for result in (baseline, fast):
        assert result["mask_schedule_ok"] and len(result["masked_observed_mean"]) == 32
        assert result["masked_observed_mean"][-1] == 0
        assert all(o <= e for o, e in zip(result["masked_observed_mean"], result["masked_expected"]))
    assert (out / "passes.png").stat().st_size > 0
    table = (out / "results.md").read_text()
    assert "| threshold |" in table and "passes/answer" in table
    assert "| tps_prob | off | 32 | 32 | 0.9 |" in table and "| 32.00 |" in table


def test_cli_rejects_a_threshold_that_is_not_a_number(capsys):
    with pytest.raises(SystemExit) as exit_info:
        eval_main(["--thresholds", "high"])
    assert exit_info.value.code == 2
    assert "'high' is neither a number nor 'none'" in capsys.readouterr().err


def _result(source, remask, threshold, passes, accuracy):
    name = f"{source} {remask} {threshold}"
    return {"name": name, "source": source, "remask": remask, "threshold": threshold, "steps": 32,
            "forward_passes_per_answer": passes, "accuracy": {"mean": accuracy, "lo": accuracy - 0.1,
                                                              "hi": accuracy + 0.05}}


def test_passes_figure_draws_each_rule_through_its_thresholds_and_rings_the_chosen_ones():
    fixed = [_result("tps_prob", False, None, 32, 0.97), _result("ups", True, None, 32, 0.98)]
    assert plots.passes_figure(fixed) is None  # nothing to trade off without a threshold
    results = fixed + [_result("tps_prob", False, 0.9, 4, 0.95), _result("tps_prob", False, 0.99, 7, 0.97),
                       _result("ups", True, 0.3, 9, 0.96)]
    figure = plots.passes_figure(results, chosen={"ups True 0.3"})
    axes = figure.axes[0]
    lines = {container.get_label(): container.lines[0] for container in axes.containers}
    assert list(lines) == ["tps_prob", "ups + remask"]
    assert list(lines["tps_prob"].get_xdata()) == [4, 7, 32] and list(lines["tps_prob"].get_ydata()) == [0.95, 0.97, 0.97]
    rings = [line for line in axes.get_lines() if line.get_markeredgecolor() == "black"]
    assert len(rings) == 1 and list(rings[0].get_xdata()) == [9]
    assert sorted(t.get_text() for t in axes.texts) == ["0.3", "0.9", "0.99", "32 steps", "32 steps"]


def test_passes_figure_draws_smaller_fixed_budgets_as_their_own_dashed_line():
    four = dict(_result("ups", True, None, 4, 0.98), steps=4, name="ups 4 steps")
    results = [_result("tps_prob", False, None, 32, 0.97), _result("tps_prob", False, 0.9, 4, 0.95),
               _result("ups", True, None, 32, 0.98), _result("ups", True, 0.3, 9, 0.96), four]
    axes = plots.passes_figure(results).axes[0]
    lines = {container.get_label(): container.lines[0] for container in axes.containers}
    assert list(lines) == ["tps_prob", "ups + remask", "ups + remask, fixed step budgets"]
    assert list(lines["ups + remask"].get_xdata()) == [9, 32] and list(lines["ups + remask, fixed step budgets"]
                                                                       .get_xdata()) == [4]
    assert lines["ups + remask, fixed step budgets"].get_linestyle() == "--"
