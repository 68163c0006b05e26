"""paper/make_report.py: the report's generated LaTeX, from fake evaluation outputs written here."""

import importlib.util
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("make_report", ROOT / "paper" / "make_report.py")
make_report = importlib.util.module_from_spec(spec)
spec.loader.exec_module(make_report)

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
    make_report.main(["--eval", f"{many}:budgets", f"{one}:one step", "--out", str(out)])
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
