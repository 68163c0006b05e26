"""paper/make_report.py: the report's generated LaTeX, from fake evaluation outputs written here."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from remedi.eval.policy_comparison import load_run, write_json
from remedi.eval.rl_metrics import trailing_mean

ROOT = Path(__file__).resolve().parents[1]


def make_report(*argv):
    """`python paper/make_report.py ARGV` from the repository root: (exit status, stderr)."""
    result = subprocess.run([sys.executable, "paper/make_report.py", *map(str, argv)], cwd=ROOT, capture_output=True,
                            text=True, timeout=300)
    return result.returncode, result.stderr

FIGURES = ("accuracy.png", "mask_counts.png", "remasks.png", "trajectory.png")


def balanced(tex):
    """Whether every { closes, in order (escaped \\{ and \\} are text, not groups)."""
    depth = 0
    for brace in re.sub(r"\\[{}]", "", tex):
        depth += {"{": 1, "}": -1}.get(brace, 0)
        if depth < 0:
            return False
    return depth == 0


def write_eval(directory, steps, detection=True):
    """An evaluation output folder: results.json with one tps_prob setting per step budget, and its figures."""
    directory.mkdir(parents=True)
    settings = [{"source": "tps_prob", "remask": False, "steps": n, "block_length": 32, "remasks_per_answer": 0.0,
                 "accuracy": {"mean": 0.625, "lo": 0.5, "hi": 0.75}, "vs_baseline": None} for n in steps]
    pooled = {"n_clean": 90, "n_incorrect": 10, "roc_auc": 0.875, "token_accuracy": 0.93}
    report = {"n_problems": 8, "settings": settings,
              "detection": {"per_t": [dict(pooled, t=0.5)], "pooled": pooled, "r_incorrect": 0.1, "threshold": 0.5}
              if detection else None}
    (directory / "results.json").write_text(json.dumps(report))
    for figure in FIGURES:
        (directory / figure).write_bytes(b"png")
    return str(directory)


def test_each_run_keeps_its_floats_under_its_heading(tmp_path):
    many = write_eval(tmp_path / "runs" / "eval-many", steps=[32, 8])
    one = write_eval(tmp_path / "runs" / "eval-one", steps=[1], detection=False)
    out = tmp_path / "generated"
    assert make_report("--eval", f"{many}:budgets", f"{one}:one step", "--out", out)[0] == 0
    results = (out / "results.tex").read_text()
    lines = results.splitlines()
    assert [lines[i - 1] for i, line in enumerate(lines) if line.startswith(r"\subsection*")] == [r"\FloatBarrier"] * 2
    assert lines[-1] == r"\FloatBarrier"
    generated = results + "".join(path.read_text() for path in out.glob("run*.tex"))
    assert balanced(generated)
    placements = re.findall(r"\\begin\{(?:figure|table)\}(\[[^]]*\])?", generated)
    assert len(placements) == 4 + 2 + 1 and set(placements) == {"[!htbp]"}
    assert set(re.findall(r"\\ref\{([^}]*)\}", generated)) == set(re.findall(r"\\label\{([^}]*)\}", generated))
    # the one-step run's figures hold a single point or step each: its table says the same, so none is drawn
    assert sorted(path.name for path in out.glob("*.png")) == [f"run0_{figure}" for figure in sorted(FIGURES)]
    assert "62.5 [50.0, 75.0]" in (out / "run1_accuracy.tex").read_text()
    assert (out / "run1_detection.tex").read_text() == ""


# ---- Remask RL ---------------------------------------------------------------------------------------------

METRICS_COLUMNS = ["step", "reward", "accuracy", "zero_advantage_groups", "clip_frac_position", "position_entropy",
                   "remasks_per_answer"]


def write_metrics(directory, rewards, validation):
    """A train_mdm_rl.py metrics.csv: one row per step; `validation` maps budget -> {step: accuracy}."""
    directory.mkdir(parents=True)
    budgets = sorted(validation)
    lines = [",".join(METRICS_COLUMNS + [f"val_accuracy_{b}_steps" for b in budgets])]
    for step, reward in enumerate(rewards, start=1):
        logged = [str(validation[b].get(step, "")) for b in budgets]
        lines.append(",".join([str(step), str(reward), str(reward), "0.25", "0.1", "2.5", "6.0"] + logged))
    (directory / "metrics.csv").write_text("\n".join(lines) + "\n")
    return str(directory)


def test_trailing_mean_has_no_lookahead():
    assert trailing_mean([1, 2, 3, 4], 2) == [1, 1.5, 2.5, 3.5]
    assert trailing_mean([1, 2, 3], 10) == [1, 1.5, 2]


def rl_report(tmp_path):
    """make_report --rl on two fake runs; returns the output folder."""
    run_a = write_metrics(tmp_path / "rl-a", [0.25, 0.5, 0.75, 1.0], {4: {2: 0.25, 4: 0.5}, 8: {2: 0.5, 4: 0.75}})
    run_b = write_metrics(tmp_path / "rl_b", [0.5, 0.5, 0.5], {8: {3: 0.625}})
    out = tmp_path / "generated"
    assert make_report("--rl", f"{run_a}:UPS only", run_b, "--rl-smooth", "2", "--out", out)[0] == 0
    return out


def policy_report_tex(tmp_path):
    """make_report --policy-report on the numbers scripts/policy_report.py --json writes for two fake evaluations."""
    runs = []
    for name, settings in [("rl", [("ups", True, 8, [1, 1, 1, 0]), ("tps_prob", False, 8, [1, 0, 0, 0]),
                                   ("ups", True, 4, [1, 1, 0, 0]), ("random", True, 4, [0, 0, 0, 1])]),
                           ("sft", [("ups", True, 8, [0, 1, 0, 0]), ("ups", True, 4, [0, 0, 0, 0])])]:
        (tmp_path / name).mkdir(parents=True)
        report = {"config": {"data": "test.jsonl"}, "n_problems": 4,
                  "settings": [dict(source=s, remask=r, steps=n, block_length=32, correct=c)
                               for s, r, n, c in settings]}
        (tmp_path / name / "results.json").write_text(json.dumps(report))
        runs.append(load_run(f"{tmp_path / name}:{name.upper()} UPS"))
    numbers = tmp_path / "policy-report.json"
    write_json("RL UPS", 32, runs, numbers, n_boot=200)
    out = tmp_path / "generated"
    assert make_report("--policy-report", numbers, "--out", out)[0] == 0
    return out


def test_rl_runs_become_a_curve_figure_and_a_table(tmp_path):
    out = rl_report(tmp_path)
    assert (out / "rl_curves.png").stat().st_size > 10_000
    rl = (out / "rl.tex").read_text()
    assert balanced(rl) and r"\includegraphics" in rl and "trailing mean over 2 steps" in rl
    rows = [line for line in rl.splitlines() if line.endswith(r"\\") and "(step" in line]
    # last step, reward mean of the last 2 steps, last validation per budget (run b never validated at 4)
    assert rows == [r"UPS only & 4 & 0.875 & 50.0 (step 4) & 75.0 (step 4) \\",
                    r"rl\_b & 3 & 0.500 & -- & 62.5 (step 3) \\"]


def test_a_policy_report_becomes_latex_tables(tmp_path):
    policy = (policy_report_tex(tmp_path) / "policy.tex").read_text()
    assert balanced(policy) and policy.count(r"\begin{tabularx}{\linewidth}") == 2 and "X" in policy
    assert r"\multicolumn{3}{l}{\emph{8 steps}}" in policy and r"\multicolumn{3}{l}{\emph{4 steps}}" in policy
    # 3/4 against tps_prob's 1/4 at 8 steps: the policy row in bold, the difference 50.0
    assert r"\textbf{RL UPS + remask, block 32} & \textbf{75.0 [" in policy
    assert r"tps\_prob, block 32 & 25.0 [" in policy and "] & 50.0 [" in policy
    assert r"SFT UPS + remask, block 32 & 0.0 [0.0, 0.0] & 50.0 [" in policy
    assert r"8 & 75.0 [" in policy and r"& tps\_prob, block 32\newline 25.0 [" in policy  # the summary row


@pytest.mark.parametrize("argv, message", [
    ([], "nothing to do"),
    (["--rl", "no-such-run"], "no-such-run/metrics.csv not found"),
    (["--eval", "no-such-eval"], "no-such-eval/results.json not found"),
    (["--policy-report", "README.md"], "is not JSON"),
    (["--policy-report", "models/remedi-tiny-arith/config.json"], "does not hold scripts/policy_report.py's numbers"),
])
def test_user_mistakes_are_one_error_line(tmp_path, argv, message):
    status, err = make_report(*argv, "--out", tmp_path)
    assert status == 1 and err.startswith("error: ") and message in err and err.count("\n") == 1


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="TeX is not installed")
def test_rl_and_policy_tables_compile_within_the_text_width(tmp_path):
    (tmp_path / "generated").mkdir()
    for path in [rl_report(tmp_path / "rl") / "rl.tex", tmp_path / "rl" / "generated" / "rl_curves.png",
                 policy_report_tex(tmp_path / "policy") / "policy.tex"]:
        shutil.copy(path, tmp_path / "generated" / path.name)
    preamble = (ROOT / "paper" / "main.tex").read_text().split(r"\title")[0]
    body = r"\begin{document}\input{generated/rl.tex}\input{generated/policy.tex}\end{document}"
    (tmp_path / "doc.tex").write_text(preamble + body + "\n")
    result = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "doc.tex"], cwd=tmp_path,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-2000:]
    assert "Overfull \\hbox" not in (tmp_path / "doc.log").read_text()
