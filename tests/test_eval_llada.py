"""eval_llada.py and its lm-eval models (remedi/eval/lm_eval_harness.py) on the shipped tiny models and the offline tasks
of lm_eval_tasks/. Needs the evaluation extras (requirements-eval.txt); skipped without them."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("lm_eval")
pytest.importorskip("accelerate")

from lm_eval.api.instance import Instance  # noqa: E402

from remedi.eval.__main__ import main as remedi_eval  # noqa: E402
from remedi.eval.lm_eval_harness import LLaDAHarness, RemeDiHarness  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
ARITH = ROOT / "models" / "remedi-tiny-arith"
BLOCK_CAUSAL = ROOT / "models" / "remedi-tiny-arith-blockcausal"
ROWS = 8
SAMPLER = "gen_length=32,steps=8,block_length=32"
ENV = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", OMP_NUM_THREADS="1")


def eval_llada_command(out, model="remedi"):
    """An offline run on ROWS rows of both arithmetic tasks, from a folder outside the repository (so the tasks'
    data paths must resolve relative to their YAML files)."""
    return [str(ROOT / "eval_llada.py"), "--model", model, "--model_args",
            f"model_path={ARITH},{SAMPLER},mc_num=16,max_batch_size=64,is_check_greedy=False",
            "--batch_size", "8", "--tasks", "remedi_arith,remedi_arith_mc",
            "--include_path", str(ROOT / "lm_eval_tasks"),
            "--apply_chat_template", "--limit", str(ROWS), "--log_samples", "--output_path", str(out)]


def samples(out):
    """{(task, doc_id): (document, responses)} of a run's --log_samples files."""
    found = {}
    for path in Path(out).rglob("samples_*.jsonl"):
        task = path.stem.split("samples_", 1)[1].rsplit("_", 1)[0]
        for line in path.read_text().splitlines():
            row = json.loads(line)
            found[(task, row["doc_id"])] = (row["doc"], row["resps"])
    return found


def results(out):
    return json.loads(next(Path(out).rglob("results_*.json")).read_text())["results"]


LAUNCH_TWO = [sys.executable, "-m", "accelerate.commands.launch", "--cpu", "--num_processes", "2",
              "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Output folders of the same run in one process and, at the same time, under accelerate in two."""
    out = tmp_path_factory.mktemp("lm_eval")
    commands = {"one": [sys.executable, *eval_llada_command(out / "one")],
                "two": [*LAUNCH_TWO, *eval_llada_command(out / "two")]}
    running = {name: subprocess.Popen(command, cwd=out, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                      text=True) for name, command in commands.items()}
    for name, process in running.items():
        _, stderr = process.communicate(timeout=600)
        assert process.returncode == 0, f"{name}: {stderr[-3000:]}"
    return out


@pytest.fixture
def single_process_run(runs):
    return runs / "one"


def test_generation_scores_equal_python_m_remedi_eval(single_process_run, tmp_path, one_thread):
    report = remedi_eval(["--model", str(ARITH), "--data", str(ROOT / "tests/fixtures/arith_test50.jsonl"),
                          "--limit", str(ROWS), "--sources", "ups", "--remask-modes", "on", "--steps", "8",
                          "--gen-length", "32", "--batch-size", "8", "--answer-format", "strict", "--no-detection",
                          "--trajectory-search", "1", "--n-boot", "10", "--out", str(tmp_path)])
    ours = report["settings"][0]
    theirs = samples(single_process_run)
    assert [theirs[("remedi_arith", i)][1][0][0] for i in range(ROWS)] == ours["completions"]
    assert results(single_process_run)["remedi_arith"]["exact_match,none"] == pytest.approx(
        sum(ours["correct"]) / ROWS)


def test_multiple_choice_accuracy_is_far_above_chance(single_process_run):
    assert results(single_process_run)["remedi_arith_mc"]["acc,none"] >= 0.75  # chance: 0.25


def test_two_processes_give_the_scores_of_one(runs):
    assert samples(runs / "two") == samples(runs / "one")
    assert results(runs / "two") == results(runs / "one")


def request(kind, *arguments):
    return Instance(kind, doc={}, arguments=arguments, idx=0)


@pytest.fixture(scope="module")
def tiny():
    return RemeDiHarness(model_path="tiny-random", gen_length=16, steps=16, block_length=16, mc_num=8, batch_size=4,
                         device="cpu")


def test_trailing_spaces_of_the_context_move_to_the_continuation(tiny, one_thread):
    moved, kept = tiny.loglikelihood([request("loglikelihood", "Compute 1 + 2. ", "3"),
                                      request("loglikelihood", "Compute 1 + 2.", " 3")])
    assert moved == kept


def test_too_long_requests_and_rolling_loglikelihood_are_refused(tiny):
    with pytest.raises(ValueError, match="max_length"):
        tiny.loglikelihood([request("loglikelihood", "x" * 600, "y")])
    with pytest.raises(ValueError, match="max_length"):
        tiny.generate_until([request("generate_until", "x" * 500, {"until": []})])
    with pytest.raises(ValueError, match="not supported"):
        tiny.loglikelihood_rolling([request("loglikelihood_rolling", "some text")])


def test_generation_is_cut_before_the_first_until_string(tiny, one_thread):
    whole = tiny.generate_until([request("generate_until", "Compute 4 - 1.", {"until": []})])[0]
    assert len(set(whole)) > 1, whole
    stop = whole[len(whole) // 2]
    cut = tiny.generate_until([request("generate_until", "Compute 4 - 1.", {"until": [stop]})])[0]
    assert cut == whole.split(stop)[0]


def test_exact_kv_cache_gives_the_same_answers(one_thread):
    prompts = ["Compute 7 - 3 + 5 - 8 + 2.", "Compute 1 + 1 + 2 + 3 - 0.", "Compute 9 - 4.", "Compute 2 + 2 + 2."]
    answers = {}
    for cache in ("none", "exact"):
        harness = RemeDiHarness(model_path=str(BLOCK_CAUSAL), gen_length=32, steps=32, block_length=8, batch_size=4,
                                kv_cache=cache, device="cpu")
        answers[cache] = harness.generate_until([request("generate_until", harness.apply_chat_template(
            [{"role": "user", "content": p}]), {"until": []}) for p in prompts])
    assert answers["exact"] == answers["none"]
    assert any("####" in answer for answer in answers["none"]), answers


def test_llada_dist_starts_from_llada_sampler_and_remedi_from_the_ups():
    remedi = RemeDiHarness.options_from({"model_path": "m"})
    llada = LLaDAHarness.options_from({"model_path": "m"})
    assert (remedi.confidence_source, remedi.remask) == (None, None)  # the sampler's: UPS + remask with a head
    assert (llada.confidence_source, llada.remask) == ("tps_prob", False)
    assert LLaDAHarness.options_from({"model_path": "m", "remasking": "random"}).confidence_source == "random"
    assert LLaDAHarness.options_from({"model_path": "m", "remask": True}).remask is True


def test_task_files_name_no_absolute_path():
    for path in (ROOT / "lm_eval_tasks").glob("*.yaml"):
        assert str(ROOT) not in path.read_text() and "/work/" not in path.read_text(), path


def load_task_helpers():
    spec = importlib.util.spec_from_file_location("remedi_tasks", ROOT / "lm_eval_tasks" / "remedi_tasks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("data_file", ["arith_test50.jsonl", "chains19l_test20.jsonl"])
def test_choices_hold_the_right_number_once_and_three_others(data_file):
    tasks = load_task_helpers()
    rows = tasks.load_problems(f"../tests/fixtures/{data_file}", version=1.0, model_path="ignored")["test"]
    again = tasks.load_problems(f"../tests/fixtures/{data_file}")["test"]
    assert rows.to_list() == again.to_list()  # the same choices on every run and process
    for row in rows:
        right = row["answer"].rsplit("#### ", 1)[1]
        assert len(set(row["choices"])) == 4 and row["choices"][row["gold"]] == right
        endings = tasks.answer_endings(row)
        assert row["worked"] + endings[row["gold"]] == row["answer"]
    assert len({row["gold"] for row in rows}) > 1  # the right answer is not always in the same place


def test_model_args_take_lm_eval_spellings_and_refuse_wrong_types():
    from remedi.eval.lm_eval_harness import HarnessOptions

    options = HarnessOptions.parse({"model_path": "m", "batch_size": "8", "is_check_greedy": 0, "stop_at_eos": "True",
                                    "cfg": 1, "ups_path": None})
    assert (options.batch_size, options.is_check_greedy, options.stop_at_eos, options.cfg) == (8, False, True, 1.0)
    for bad in ({"batch_size": "auto"}, {"mc_num": 12.5}, {"remask": "maybe"}, {"threshold": "high"},
                {"model_path": "m", "max_batch_size": 0}):
        with pytest.raises(ValueError):
            HarnessOptions.parse(bad).check()
