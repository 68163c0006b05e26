"""eval_llada.py and get_log_likelihood.py refuse bad input with one `error:` line on stderr and exit status 2, no
traceback and no output written. A few cases run as subprocesses, in parallel (each is mostly Python, torch and
lm-eval starting up); every model_args case runs through the same `run_cli(main)` in this process."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from remedi.cli import run_cli

ROOT = Path(__file__).resolve().parent.parent
MODEL = f"model_path={ROOT / 'models' / 'remedi-tiny-arith'}"
ENV = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", OMP_NUM_THREADS="1")
HAS_LM_EVAL = all(importlib.util.find_spec(name) for name in ("lm_eval", "accelerate"))

# name -> (command after `python`, the message's key words)
EVAL_LLADA_CASES = {
    "unknown model_arg": (["--model", "remedi", "--model_args", f"{MODEL},gen_lenght=32"], "unknown model_args"),
    "mc_num": (["--model", "llada_dist", "--model_args", f"{MODEL},mc_num=100", "--batch_size", "8"],
               "multiple of batch_size"),
    "blocks": (["--model", "remedi", "--model_args", f"{MODEL},gen_length=32,block_length=12,steps=32"],
               "not divisible by block_length"),
    "steps": (["--model", "remedi", "-a", MODEL, "gen_length=32", "block_length=8", "steps=6"],
              "number of blocks"),
    "missing UPS": (["--model", "remedi", "--model_args", f"{MODEL},ups_path={ROOT / 'no-such-ups'}"], "ups_path"),
    "context": (["--model", "remedi", "--model_args", f"{MODEL},gen_length=1024,steps=1024,block_length=1024"],
                "no room for a prompt"),
}
GET_LOG_LIKELIHOOD_CASES = {
    "mc_num": (["--mc-num", "10", "--batch-size", "4"], "multiple of batch_size"),
    "missing UPS": (["--ups", str(ROOT / "no-such-ups")], "no UPS weights"),
}
# eval_llada.py where lm-eval cannot be imported (whether or not it is installed here)
WITHOUT_LM_EVAL = ["-c", "import runpy, sys; sys.modules['lm_eval'] = None; sys.argv[0] = 'eval_llada.py'; "
                         "runpy.run_path('eval_llada.py', run_name='__main__')", "--tasks", "remedi_arith"]


def assert_one_error_line(name, status, stderr, words):
    assert status == 2, f"{name}: exit status {status}\n{stderr[-2000:]}"
    assert "Traceback" not in stderr and len(stderr.splitlines()) == 1, f"{name}: {stderr[-2000:]}"
    assert stderr.startswith("error: ") and words in stderr, f"{name}: {stderr}"


SUBPROCESS_CASES = {  # name -> (argv after `python`, key words of the message)
    "eval_llada unknown model_arg": ([str(ROOT / "eval_llada.py"), *EVAL_LLADA_CASES["unknown model_arg"][0]],
                                     "unknown model_args"),
    "eval_llada without lm-eval": (WITHOUT_LM_EVAL, "pip install -r requirements-eval.txt"),
    "get_log_likelihood mc_num": ([str(ROOT / "get_log_likelihood.py"), "--mc-num", "10", "--batch-size", "4"],
                                  "multiple of batch_size"),
}


def test_entry_points_refuse_bad_input_as_processes(tmp_path):
    out = tmp_path / "results"
    tasks = ["--tasks", "remedi_arith", "--include_path", str(ROOT / "lm_eval_tasks"), "--output_path", str(out)]
    cases = {name: case for name, case in SUBPROCESS_CASES.items()
             if HAS_LM_EVAL or not name.startswith("eval_llada ") or "without" in name}
    processes = {name: subprocess.Popen([sys.executable, *argv, *(tasks if "eval_llada" in name else [])], cwd=ROOT,
                                        env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for name, (argv, _) in cases.items()}
    for name, process in processes.items():
        _, stderr = process.communicate(timeout=300)
        assert_one_error_line(name, process.returncode, stderr, cases[name][1])
    assert not out.exists()


@pytest.mark.parametrize("name", sorted(EVAL_LLADA_CASES))
def test_bad_model_args_are_one_error_line(name, tmp_path, capsys):
    pytest.importorskip("lm_eval")
    pytest.importorskip("accelerate")
    import eval_llada

    argv, words = EVAL_LLADA_CASES[name]
    with pytest.raises(SystemExit) as exit_status:
        run_cli(eval_llada.main, [*argv, "--tasks", "remedi_arith", "--output_path", str(tmp_path / "results")])
    assert_one_error_line(name, exit_status.value.code, capsys.readouterr().err, words)
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize("name", sorted(GET_LOG_LIKELIHOOD_CASES))
def test_get_log_likelihood_refuses_bad_input(name, capsys):
    import get_log_likelihood

    argv, words = GET_LOG_LIKELIHOOD_CASES[name]
    with pytest.raises(SystemExit) as exit_status:
        run_cli(get_log_likelihood.main, argv)
    assert_one_error_line(name, exit_status.value.code, capsys.readouterr().err, words)
