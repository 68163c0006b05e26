"""Every entry point turns a user's mistake into one `error:` line and exit status 2, and leaves no files behind.

The cases call the entry point's main through `run_cli`, as its `__main__` block does (checked for every entry
point), in this process; one runs the real command end to end.
"""

import ast
import importlib.util
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import lightning.fabric  # noqa: F401  its log handler binds to the stderr of the session, not of one test
import pytest

from remedi.cli import run_cli
from tests.helpers import save_tiny_random_dir

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = {
    "generate": "generate.py", "chat": "chat.py", "app": "app.py", "eval": "remedi/eval/__main__.py",
    "train_mdm": "SMDM/pretrain/train_mdm.py", "train_mdm_rl": "SMDM/pretrain/train_mdm_rl.py",
    "bench_sampler": "bench/bench_sampler.py", "bench_rl": "bench/bench_rl.py", "bench_trainer": "bench/bench_trainer.py",
    "bench_app": "bench/bench_app.py", "chains_probe": "scripts/chains_probe.py",
    "policy_report": "scripts/policy_report.py", "sudoku_report": "scripts/sudoku_report.py",
    "threshold_report": "scripts/threshold_report.py", "export_rl_checkpoint": "scripts/export_rl_checkpoint.py",
    "make_arith_data": "scripts/make_arith_data.py", "make_sudoku_data": "scripts/make_sudoku_data.py",
    "sudoku_difficulty": "scripts/sudoku_difficulty.py", "accuracy_by_length": "scripts/accuracy_by_length.py",
}


def entry_point(name):
    """The function the script's `__main__` block hands to run_cli."""
    spec = importlib.util.spec_from_file_location(f"entry_{name}", ROOT / SCRIPTS[name])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, "cli", None) or module.main


@pytest.fixture(scope="module")
def bad_inputs(tmp_path_factory):
    """A model directory whose weights are cut short, a UPS folder likewise, a JSONL file with a broken line."""
    root = tmp_path_factory.mktemp("bad")
    model = save_tiny_random_dir(root / "cut")
    for weights in (model / "model.safetensors", model / "ups" / "ups_head.safetensors"):
        weights.write_bytes(weights.read_bytes()[:100])
    good = save_tiny_random_dir(root / "good")  # bidirectional, with an MLP UPS head
    (root / "broken.jsonl").write_text('{"question": "1+1", "answer": "#### 2"}\n{"question": \n')
    (root / "good.jsonl").write_text("".join(json.dumps({"prompt": f"{a}+1", "response": f"#### {a + 1}"}) + "\n"
                                             for a in range(20)))
    return {"CUT_MODEL": str(model), "CUT_UPS": str(model / "ups"), "BROKEN_JSONL": str(root / "broken.jsonl"),
            "GOOD_JSONL": str(root / "good.jsonl"), "GOOD_MODEL": str(good)}


CASES = [
    ("generate", ["--threshold", "1.5"], "(0, 1]"),
    ("generate", ["--threshold", "0"], "(0, 1]"),
    ("generate", ["--temperature", "nan"], "finite"),
    ("generate", ["--cfg-scale", "inf"], "finite"),
    ("generate", ["--steps", "6", "--gen-length", "32", "--block-length", "8"], "use a multiple of 4"),
    ("generate", ["--model", "CUT_MODEL", "--trace", "OUT/trace.jsonl"], "damaged or incomplete"),
    ("generate", ["--ups", "CUT_UPS"], "damaged or incomplete"),
    ("chat", ["--model", "/nonexistent"], "does not exist"),
    ("chat", ["--threshold", "2"], "(0, 1]"),
    ("app", ["--model", "/nonexistent"], "does not exist"),
    ("app", ["--ups", "/nonexistent"], "no UPS weights"),
    ("app", ["--threshold", "-0.5"], "(0, 1]"),
    ("eval", ["--ups", "/nonexistent", "--out", "OUT/eval"], "no UPS weights"),
    ("eval", ["--steps", "0", "--out", "OUT/eval"], "--steps 0 is not a positive whole number"),
    ("eval", ["--data", "BROKEN_JSONL", "--out", "OUT/eval"], "line 2 of"),
    ("eval", ["--data", "OUT/missing.jsonl", "--out", "OUT/eval"], "neither gsm8k, math500 nor an existing file"),
    ("eval", ["--thresholds", "none", "1.5", "--out", "OUT/eval"], "(0, 1]"),
    ("eval", ["--temperature", "-1", "--out", "OUT/eval"], "--temperature"),
    ("eval", ["--limit", "-1", "--out", "OUT/eval"], "--limit -1"),
    ("eval", ["--skip", "-3", "--out", "OUT/eval"], "--skip -3"),
    ("train_mdm", ["--data", "BROKEN_JSONL", "--out-dir", "OUT/run"], "line 2 of"),
    ("train_mdm", ["--model-path", "CUT_MODEL", "--data", "GOOD_JSONL", "--out-dir", "OUT/run"],
     "damaged or incomplete"),
    ("train_mdm_rl", ["--model-path", "/nonexistent", "--out-dir", "OUT/run"], "no config.json"),
    ("train_mdm_rl", ["--model-path", "CUT_MODEL", "--out-dir", "OUT/run"], "damaged or incomplete"),
    ("train_mdm_rl", ["--model-path", "GOOD_MODEL", "--kv-cache", "exact", "--out-dir", "OUT/run"],
     "needs a block-causal model"),
    ("train_mdm_rl", ["--model-path", "GOOD_MODEL", "--train", "lora", "--temperature", "1",
                      "--lora-target-modules", "q_proj", "qkv", "--out-dir", "OUT/run"], "--lora-target-modules qkv"),
    ("train_mdm_rl", ["--train", "full", "--temperature", "0", "--out-dir", "OUT/run"], "--temperature > 0"),
    ("train_mdm_rl", ["--kl-coef", "0.1", "--reference-path", "/nonexistent", "--out-dir", "OUT/run"],
     "needs a reference model"),
    ("bench_rl", ["--model", "/nonexistent"], "does not exist"),
    ("bench_rl", ["--model", "GOOD_MODEL", "--compare-cache"], "needs a block-causal model"),
    ("bench_sampler", ["--steps", "0"], "at least 1"),
    ("bench_trainer", ["--d-model", "0"], "at least 1"),
    ("bench_app", ["--waves", "0"], "at least 1"),
    ("chains_probe", ["--model", "tiny-random", "--data", "BROKEN_JSONL", "--out", "OUT/probe.json"], "line 2 of"),
    ("sudoku_report", ["--data", "BROKEN_JSONL", "--runs", "OUT", "--out", "OUT/report.md"], "line 2 of"),
    ("accuracy_by_length", ["--data", "BROKEN_JSONL", "--runs", "OUT", "--out", "OUT/report.md"], "line 2 of"),
    ("accuracy_by_length", ["--data", "GOOD_JSONL", "--runs", "OUT", "--out", "OUT/report.md"], "needs an 'answer'"),
    ("policy_report", ["--policy", "/nonexistent", "--policy-block", "32", "--out", "OUT/report.md"], "No such file"),
    ("threshold_report", ["--val", "/nonexistent", "--test", "/nonexistent", "--out", "OUT/report.md"],
     "No such file"),
    ("export_rl_checkpoint", ["/nonexistent", "--step", "1", "--out", "OUT/model"], "/nonexistent"),
    ("make_arith_data", ["--num-ops", "0", "--out-dir", "OUT/data"], "at least 1"),
    ("make_sudoku_data", ["--givens", "5", "--out-dir", "OUT/data"], "17..81"),
    ("sudoku_difficulty", ["--puzzles", "0"], "at least 1"),
]


def files_under(path):
    return sorted(str(p.relative_to(path)) for p in Path(path).rglob("*") if p.is_file())


@pytest.mark.parametrize("name, argv, message", CASES, ids=[f"{name} {' '.join(argv)}" for name, argv, _ in CASES])
def test_a_mistake_is_one_error_line_exit_2_and_no_output_file(name, argv, message, bad_inputs, tmp_path, capsys,
                                                               monkeypatch, one_thread):
    monkeypatch.setattr(sys, "stdin", io.StringIO())  # chat reads its messages from here
    paths = dict(bad_inputs, OUT=str(tmp_path))
    argv = [paths.get(arg, arg.replace("OUT/", f"{tmp_path}/")) for arg in argv]
    main = entry_point(name)
    with pytest.raises(SystemExit) as stopped:
        run_cli(main, argv)
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if "error:" in line]
    assert stopped.value.code == 2 and "Traceback" not in err, err
    assert len(errors) == 1 and message in errors[0], err
    assert files_under(tmp_path) == []


ENTRY_POINTS = sorted({str(path.relative_to(ROOT)) for pattern in ("*.py", "scripts/*.py", "bench/*.py", "SMDM/pretrain/*.py")
                       for path in ROOT.glob(pattern)} | {"remedi/eval/__main__.py"})


@pytest.mark.parametrize("path", ENTRY_POINTS)
def test_every_main_block_goes_through_run_cli(path):
    """Found by glob, not listed, so that a new script cannot skip the one-line error path."""
    tree = ast.parse((ROOT / path).read_text())
    main_block = next(node for node in tree.body if isinstance(node, ast.If) and "__main__" in ast.unparse(node.test))
    assert "run_cli(" in ast.unparse(main_block)


def test_the_real_command_exits_2_with_one_error_line(tmp_path):
    argv = ["-m", "remedi.eval", "--model", "/nonexistent", "--out", str(tmp_path / "eval")]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    result = subprocess.run([sys.executable, *argv], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                            capture_output=True, text=True, timeout=120)
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert len(errors) == 1, result.stderr
    assert files_under(tmp_path) == []
