"""The OpenCompass plugin: config options reach the sampler, prompts are batched with left padding,
answers are cut at EOS/EoT, grading is strict where asked, the benchmark configs resolve, and the real
`opencompass` CLI runs the offline configs to scores, the shipped model's equal to `python -m remedi.eval`'s."""

import csv
import gc
import inspect
import json
import os
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest
import torch
from datasets import Dataset

# The repository's own opencompass/ folder imports as a namespace package, so `import opencompass` alone
# proves nothing: check for the installed package's modules.
pytest.importorskip("mmengine", reason="OpenCompass is not installed (pip install -r requirements-eval.txt)")
pytest.importorskip("opencompass.openicl", reason="OpenCompass is not installed (pip install -r requirements-eval.txt)")

from mmengine.config import Config  # noqa: E402  (installed with OpenCompass)
from opencompass.datasets.base import BaseDataset  # noqa: E402
from opencompass.openicl.icl_evaluator import BaseEvaluator  # noqa: E402
from opencompass.openicl.icl_prompt_template import PromptTemplate  # noqa: E402

from remedi.model.loading import DEFAULT_MODEL  # noqa: E402
from remedi.model.tokenizer import EOT, special_token_ids  # noqa: E402
import remedi_opencompass.dllm as dllm  # noqa: E402
from remedi_opencompass import (GSM8KJsonlDataset, RemeDiBaseModel, RemeDiChatModel,  # noqa: E402
                                StrictFinalAnswerEvaluator, SudokuEvaluator, strict_correct)
from tests.helpers import save_tiny_random_dir  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "opencompass" / "configs"
FIXTURE = ROOT / "tests" / "fixtures" / "gsm8k_tiny.jsonl"
ARITH_FIXTURE = ROOT / "tests" / "fixtures" / "arith_test50.jsonl"
SUDOKU_FIXTURE = ROOT / "tests" / "fixtures" / "sudoku_test20.jsonl"
SUDOKU_CONFIG = CONFIGS / "eval_remedi_tiny_sudoku.py"
SUDOKU_MODEL = ROOT / "models" / "remedi-tiny-sudoku"
CHAINS_FIXTURE = ROOT / "tests" / "fixtures" / "chains19l_test20.jsonl"
CHAINS_CONFIG = CONFIGS / "eval_remedi_tiny_chains.py"
CHAINS_MODEL = ROOT / "models" / "remedi-tiny-chains"
# Keys OpenCompass itself reads from a model dict and removes before building the model.
OPENCOMPASS_MODEL_KEYS = {"type", "abbr", "run_cfg", "max_out_len", "batch_size", "min_out_len",
                          "summarizer_abbr", "pred_postprocessor"}
SMALL = dict(path="tiny-random", gen_steps=4, gen_length=16, gen_blocksize=8)


@pytest.fixture
def spy(monkeypatch):
    """Calls the real sampler with return_trace=True and keeps each call's arguments, output and trace."""
    calls, real_generate = [], dllm.generate

    def traced_generate(model, prompt, attention_mask=None, **kwargs):
        out, trace = real_generate(model, prompt, attention_mask, return_trace=True, **kwargs)
        calls.append(dict(prompt=prompt, attention_mask=attention_mask, kwargs=kwargs, out=out, trace=trace))
        return out

    monkeypatch.setattr(dllm, "generate", traced_generate)
    return calls


def test_config_options_reach_the_sampler(spy):
    model = RemeDiChatModel(**SMALL, confidence_source="tps_margin", remask=True, cfg=0.5,
                            diff_logits_eos_inf=True, diff_confidence_eos_eot_inf=True)
    model.generate(["What is 2 + 3?"], max_out_len=999)
    (call,) = spy
    config, trace = call["kwargs"]["config"], call["trace"]
    assert config.steps == 4 and config.block_length == 8 and config.cfg_scale == 0.5
    assert config.logits_eos_inf and config.confidence_eos_eot_inf
    # Effects, not just arguments: 4 steps over 2 blocks, the chosen rule, 16 answer positions filled.
    assert len(trace) == 4 and [r["block"] for r in trace] == [0, 0, 1, 1]
    assert {(r["confidence_source"], r["remask"]) for r in trace} == {("tps_margin", True)}
    assert call["out"].shape[1] == call["prompt"].shape[1] + 16
    assert trace[-1]["masked_count"] == [0]


def test_special_ids_default_to_the_tokenizer_and_can_be_overridden(spy):
    model = RemeDiBaseModel(**SMALL)
    ids = special_token_ids(model.tokenizer)
    sampler = model.sampler
    assert (sampler.mask_id, sampler.eos_id, sampler.eot_id) == (ids["mask_id"], ids["eos_id"], ids["eot_id"])
    assert RemeDiBaseModel(**SMALL, eot_id=ids["eos_id"]).sampler.eot_id == ids["eos_id"]
    # The tiny model has a UPS head, so by default it is used, with remasking (the sampler's default).
    model.generate(["1+1="], max_out_len=16)
    assert {(r["confidence_source"], r["remask"]) for r in spy[0]["trace"]} == {("ups", True)}


def test_repeated_batches_leave_nothing_behind():
    """An evaluation calls generate thousands of times: once warm (torch fills small per-shape caches in its
    first calls), further batches must not grow the Python heap or the set of live tensors: nothing is
    kept per batch (prompts, outputs, answers)."""
    model = RemeDiChatModel(**SMALL, batch_size_=2)
    batch = ["What is 2 + 3?", "Tom has 3 boxes with 4 pens each. How many pens?", "1+1="]

    def twenty_batches():
        for _ in range(20):
            model.generate(batch, max_out_len=16)
        gc.collect()
        # type(), not isinstance: isinstance on a lazy module proxy (openai's) imports the module
        tensors = sum(type(thing) is torch.Tensor for thing in gc.get_objects())
        return tracemalloc.get_traced_memory()[0], tensors

    tracemalloc.start()  # from the first call, so memory freed later is counted as freed
    try:
        twenty_batches()  # warm-up: a few kilobytes of caches can still arrive in the second twenty
        warm, warm_tensors = twenty_batches()
        after, after_tensors = twenty_batches()
    finally:
        tracemalloc.stop()
    growth = after - warm
    assert after_tensors == warm_tensors
    assert growth < 8 * 1024, f"{growth} bytes more after 20 batches"


# A misspelling, and options upstream's wrapper accepts but never reads.
@pytest.mark.parametrize("option", [dict(gen_lenght=16), dict(mc_num=1), dict(padding_id=2),
                                    dict(generation_kwargs={})])
def test_unknown_and_upstream_unused_options_are_errors(option):
    with pytest.raises(TypeError, match=next(iter(option))):
        RemeDiChatModel(**SMALL, **option)


@pytest.mark.parametrize("option, message", [
    (dict(confidence_source="usp"), "confidence_source"),
    (dict(gen_blocksize=5), "gen_blocksize"),
    (dict(gen_steps=3), "gen_steps"),
    (dict(remasking="high_confidence"), "remasking"),
    (dict(model_kwargs=dict(device_map="cpu", trust_remote_code=True)), "trust_remote_code"),
    (dict(mode="left"), "mode"),
    (dict(kv_cache="fast"), "kv_cache"),
])
def test_bad_option_values_fail_before_loading(monkeypatch, option, message):
    monkeypatch.setattr(dllm, "load_model_and_tokenizer", lambda *a, **k: pytest.fail("model loaded"))
    with pytest.raises(ValueError, match=message):
        RemeDiChatModel(**{**SMALL, **option})


def test_kv_cache_reaches_the_sampler_and_must_suit_the_model(spy):
    """tiny-random is bidirectional: 'exact' is refused at construction; with one step per block 'dual' runs
    its refresh pass only, which gives the uncached answer."""
    with pytest.raises(ValueError, match="needs a block-causal model"):
        RemeDiChatModel(**SMALL, kv_cache="exact")
    one_step = dict(SMALL, gen_steps=2)
    dual = RemeDiChatModel(**one_step, kv_cache="dual").generate(["What is 2 + 3?"], max_out_len=16)
    plain = RemeDiChatModel(**one_step).generate(["What is 2 + 3?"], max_out_len=16)
    assert spy[0]["kwargs"]["config"].kv_cache == "dual" and dual == plain


def test_ups_confidence_without_a_head_is_an_error(monkeypatch):
    real_load = dllm.load_model_and_tokenizer
    monkeypatch.setattr(dllm, "load_model_and_tokenizer",
                        lambda *a, **k: (lambda m, t: (m.backbone, t))(*real_load(*a, **k)))
    with pytest.raises(ValueError, match="UPS head"):
        RemeDiChatModel(**SMALL, confidence_source="ups")


def test_prompts_are_left_padded_and_masked_and_batching_does_not_change_answers(spy):
    prompts = ["Tom has 3 boxes with 4 pens each. How many pens?", "2+2?", "A baker sells 13 of 20 rolls."]
    batched = RemeDiChatModel(**SMALL, confidence_source="tps_prob")
    answers = batched.generate(prompts, max_out_len=16)
    (call,) = spy
    lengths = [len(batched.encode_prompt(p)) for p in prompts]
    width = max(lengths)
    assert call["prompt"].shape == (3, width)
    assert call["attention_mask"].sum(dim=1).tolist() == lengths
    short = lengths.index(min(lengths))
    assert not call["attention_mask"][short, : width - lengths[short]].any()
    assert (call["prompt"][short, : width - lengths[short]] == batched.pad_id).all()
    one_by_one = RemeDiChatModel(**SMALL, confidence_source="tps_prob", batch_size_=1)
    assert one_by_one.generate(prompts, max_out_len=16) == answers
    assert [c["prompt"].shape[0] for c in spy[1:]] == [1, 1, 1]


def test_answers_are_cut_at_the_first_eos_or_eot_then_at_stop_words(monkeypatch):
    model = RemeDiChatModel(**SMALL, stop_words=["apples"], end_str="!")
    tok = model.tokenizer
    answer = tok("12 apples!", add_special_tokens=False)["input_ids"]
    eot = tok.convert_tokens_to_ids(EOT)

    def fake_generate(net, prompt, attention_mask=None, **kwargs):
        rows = [answer + [eot] + answer, [tok.eos_token_id] * 3 + answer, answer + [kwargs["config"].eos_id] + [eot]]
        rows = [(row + [tok.eos_token_id] * 16)[:16] for row in rows]
        return torch.cat([prompt, torch.tensor(rows)], dim=1)

    monkeypatch.setattr(dllm, "generate", fake_generate)
    assert model.generate(["a", "b", "c"], max_out_len=16) == ["12 ", "", "12 "]
    plain = RemeDiChatModel(**SMALL)
    assert plain.generate(["a", "b", "c"], 16, stopping_criteria=["2 a"]) == ["1", "", "1"]


def test_chat_prompts_use_the_chat_template_and_base_prompts_do_not():
    chat, base = RemeDiChatModel(**SMALL, tokenizer_only=True), RemeDiBaseModel(**SMALL, tokenizer_only=True)
    assert chat.model is None
    text = "What is 2 + 3?"
    chat_text = chat.tokenizer.decode(chat.encode_prompt(text))
    assert chat_text.startswith(chat.tokenizer.bos_token) and chat_text.count(chat.tokenizer.bos_token) == 1
    assert chat_text.endswith("assistant<|end_header_id|>\n\n") and text in chat_text
    assert base.tokenizer.decode(base.encode_prompt(text)) == text
    assert chat.get_token_len(text) == len(chat.encode_prompt(text)) > base.get_token_len(text)
    # OpenCompass hands chat models HUMAN/BOT rounds (few-shot examples here); they become chat turns.
    template = PromptTemplate(template=dict(round=[dict(role="HUMAN", prompt="Q1"), dict(role="BOT", prompt="A1"),
                                                   dict(role="HUMAN", prompt="{question}")]))
    rounds = chat.parse_template(template.generate_item({"question": "Q2"}), mode="gen")
    turns = chat.tokenizer.decode(chat.encode_prompt(rounds))
    header = "<|start_header_id|>{}<|end_header_id|>\n\n"
    expected = [header.format("user") + "Q1", header.format("assistant") + "A1", header.format("user") + "Q2"]
    positions = [turns.index(turn) for turn in expected]
    assert positions == sorted(positions) and turns.endswith(header.format("assistant"))


@pytest.mark.parametrize("mode", ["none", "mid"])
def test_long_prompts_are_cut_to_fit_max_seq_len(spy, mode):
    model = RemeDiBaseModel(**SMALL, max_seq_len=64, mode=mode)
    text = "".join(chr(ord("a") + i % 26) for i in range(200))
    ids = model.encode_prompt(text)
    model.generate([text], max_out_len=16)
    kept = spy[0]["prompt"][0].tolist()
    assert len(kept) == 64 - 16
    assert kept == (ids[-48:] if mode == "none" else ids[:24] + ids[-24:])


def test_model_kwargs_set_dtype():
    model = RemeDiChatModel(**SMALL, model_kwargs=dict(device_map="cpu", torch_dtype="torch.bfloat16"))
    assert next(model.model.parameters()).dtype == torch.bfloat16


@pytest.mark.filterwarnings("ignore:Could not find a config file")  # the tiny model has no hub name
def test_peft_adapter_is_merged_into_the_backbone(tmp_path):
    from peft import LoraConfig, get_peft_model

    backbone = RemeDiChatModel(**SMALL).model.backbone
    lora = get_peft_model(backbone, LoraConfig(r=2, target_modules=["q_proj"], init_lora_weights=False))
    lora.save_pretrained(tmp_path)
    adapted = RemeDiChatModel(**SMALL, peft_path=str(tmp_path))
    names = [name for name, _ in adapted.model.backbone.named_modules()]
    assert not any("lora" in name for name in names)
    fresh = RemeDiChatModel(**SMALL).model.backbone.state_dict()
    changed = [k for k, v in adapted.model.backbone.state_dict().items() if not torch.equal(v, fresh[k])]
    assert changed and all("q_proj" in k for k in changed)


def test_gsm8k_jsonl_dataset(tmp_path):
    rows = GSM8KJsonlDataset.load(str(FIXTURE))
    assert rows.column_names == ["question", "answer"] and len(rows) == 5
    assert all(answer.splitlines()[-1].startswith("#### ") for answer in rows["answer"])
    assert len(GSM8KJsonlDataset.load(str(FIXTURE), num_rows=2)) == 2
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"problem": "1+1", "answer": "#### 2"}) + "\n")
    with pytest.raises(ValueError, match="question"):
        GSM8KJsonlDataset.load(str(bad))


ARITH_REFERENCE = "7-6=1\n1+8=9\n9-4=5\n5-2=3\n#### 3"


@pytest.mark.parametrize("completion, correct", [
    ("7-6=1\n1+8=9\n9-4=5\n5-2=3\n#### 3", True),
    ("#### 3\n", True),  # trailing whitespace is not an answer
    ("#### 4\n#### 3", True),  # the text ends in the right answer
    ("#### 3\n#### 4", False),
    ("#### 3 +5", False),  # remedi.eval's GSM8K rule (first number after the last '####') takes 3
    ("5-2=3", False),  # right number, no '####': OpenCompass's GSM8K rule (last number) takes 3
    ("#### 03", True),  # numbers compare as numbers, as in remedi.eval's strict grading
    ("#### 4", False),
    ("", False),
])
def test_strict_grading_needs_the_right_final_answer_at_the_end(completion, correct):
    assert strict_correct(completion, ARITH_REFERENCE) is correct


def test_strict_grading_rejects_a_reference_without_a_final_answer():
    with pytest.raises(ValueError, match="####"):
        strict_correct("#### 3", "7-6=1\n1+8=9")


def test_strict_evaluator_scores_percent_correct_with_per_row_details():
    result = StrictFinalAnswerEvaluator().score(["x\n#### 3", "#### 3 7", "#### 12", "12"],
                                                [ARITH_REFERENCE, ARITH_REFERENCE, "#### 12", "#### 12"])
    assert result["accuracy"] == 50.0
    assert [d["correct"] for d in result["details"]] == [True, False, True, False]
    assert "error" in StrictFinalAnswerEvaluator().score(["#### 3"], [])


@pytest.mark.parametrize("name", sorted(path.name for path in CONFIGS.glob("eval_*.py")))
def test_example_configs_name_only_options_the_wrapper_accepts(name):
    cfg = Config.fromfile(str(CONFIGS / name), format_python_code=False)
    accepted = set(inspect.signature(RemeDiBaseModel.__init__).parameters) - {"self"}
    assert cfg.datasets and cfg.models
    for model in cfg.models:
        assert model["type"] in (RemeDiChatModel, RemeDiBaseModel)
        assert set(model) - OPENCOMPASS_MODEL_KEYS <= accepted, set(model) - OPENCOMPASS_MODEL_KEYS - accepted


# Upstream LLaDA's EVAL.md / example configs for LLaDA-8B-Instruct (BBH: its LLaDA-8B-Base setting):
# config -> (gen_length, gen_steps, gen_blocksize, diff_logits_eos_inf, diff_confidence_eos_eot_inf), datasets.
UPSTREAM_SETTINGS = {
    "eval_remedi_llada_instruct_gsm8k.py": ((512, 512, 512, False, True), 1),
    "eval_remedi_llada_instruct_gsm8k_block8.py": ((256, 256, 8, False, False), 1),
    "eval_remedi_llada_instruct_math.py": ((512, 512, 512, False, True), 1),
    "eval_remedi_llada_instruct_math_block64.py": ((512, 512, 64, False, False), 1),
    "eval_remedi_llada_instruct_humaneval.py": ((512, 512, 512, True, False), 1),
    "eval_remedi_llada_instruct_mbpp.py": ((256, 256, 256, False, True), 1),
    "eval_remedi_llada_instruct_bbh.py": ((256, 256, 256, False, False), 27),
}


@pytest.mark.parametrize("name", sorted(UPSTREAM_SETTINGS))
def test_benchmark_configs_use_upstream_settings_and_resolve(name):
    """What can be checked without GPUs and hub data: upstream's sampler settings on both model entries
    (LLaDA's TPS order and RemeDi's UPS + remask), wrappers that build from the entries, and datasets
    whose classes, evaluators and prompt templates resolve and render through the chat wrapper."""
    cfg = Config.fromfile(str(CONFIGS / name), format_python_code=False)
    settings, n_datasets = UPSTREAM_SETTINGS[name]
    samplers = {(m["confidence_source"], m["remask"]) for m in cfg.models}
    assert samplers == {("tps_prob", False), ("ups", True)}
    for entry in cfg.models:
        assert (entry["gen_length"], entry["gen_steps"], entry["gen_blocksize"], entry.get("diff_logits_eos_inf", False),
                entry.get("diff_confidence_eos_eot_inf", False)) == settings
    options = {k: v for k, v in cfg.models[0].items() if k not in OPENCOMPASS_MODEL_KEYS}
    chat = RemeDiChatModel(**{**options, "path": "tiny-random", "tokenizer_only": True})

    assert len(cfg.datasets) == n_datasets == len({d["abbr"] for d in cfg.datasets})
    for dataset in cfg.datasets:
        assert issubclass(dataset["type"], BaseDataset)
        assert issubclass(dataset["eval_cfg"]["evaluator"]["type"], BaseEvaluator)
        for key in ("pred_postprocessor", "dataset_postprocessor"):
            assert callable(dataset["eval_cfg"].get(key, {}).get("type", str))
        template = {k: v for k, v in dataset["infer_cfg"]["prompt_template"].items() if k != "type"}
        row = {column: f"<{column}>" for column in dataset["reader_cfg"]["input_columns"]}
        prompt = dataset["infer_cfg"]["prompt_template"]["type"](**template).generate_item(row)
        text = chat.tokenizer.decode(chat.encode_prompt(chat.parse_template(prompt, mode="gen")))
        assert all(value in text for value in row.values()), dataset["abbr"]


def test_opencompass_cli_scores_the_tiny_config(tmp_path):
    """The real CLI, started outside the repository, so it must import the installed plugin. `--debug`
    runs inference and evaluation in the CLI's process instead of one fresh interpreter per task (the
    same import, from the same dumped config, at half the wall time). The CLI exits 0 even when tasks
    fail, so the test reads what the run wrote."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    work = tmp_path / "outputs"
    config = CONFIGS / "eval_remedi_tiny_gsm8k.py"
    run = subprocess.run(
        [sys.executable, "-m", "opencompass.cli.main", str(config), "-w", str(work), "--debug"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )
    (run_dir,) = work.iterdir()
    results = run_dir / "results" / "remedi-tiny-random" / "gsm8k-tiny.json"
    assert results.exists(), f"no results; the CLI said:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    accuracy = json.loads(results.read_text())["accuracy"]
    assert isinstance(accuracy, float) and 0.0 <= accuracy <= 100.0
    predictions = json.loads((run_dir / "predictions" / "remedi-tiny-random" / "gsm8k-tiny.json").read_text())
    assert len(predictions) == 5
    assert all(len(p["prediction"]) <= 16 for p in predictions.values())  # gen_length=16 characters at most
    (summary,) = run_dir.glob("summary/summary_*.csv")
    row = next(r for r in csv.DictReader(summary.open()) if r["dataset"] == "gsm8k-tiny")
    assert float(row["remedi-tiny-random"]) == pytest.approx(accuracy, abs=0.01)


def assert_cli_scores_equal_remedi_eval(tmp_path, config, answer_format):
    """`config` through the real CLI, and `python -m remedi.eval` on the same rows with the sampler settings
    read from the config's model entries (run side by side, one thread each, so both compute alike). The
    scores in the CLI's summary must equal remedi.eval's accuracies, and the completions and verdicts must
    be the same row for row. Returns the sampler settings compared, {abbr: (source, remask)}."""
    cfg = Config.fromfile(str(config), format_python_code=False)
    (dataset,) = cfg.datasets
    shared = {(m["path"], m["gen_length"], m["gen_steps"], m["gen_blocksize"], m["temperature"], m["batch_size"])
              for m in cfg.models}
    ((path, gen_length, steps, block_length, temperature, batch_size),) = shared
    samplers = {m["abbr"]: (m["confidence_source"], m["remask"]) for m in cfg.models}
    rows = Path(dataset["path"]).read_text().splitlines()
    assert batch_size == len(rows)  # one sampler call of every row, on both sides

    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", OMP_NUM_THREADS="1")
    eval_dir = tmp_path / "remedi-eval"
    sources = sorted({source for source, _ in samplers.values()})
    remask_modes = sorted({"on" if remask else "off" for _, remask in samplers.values()})
    eval_command = [sys.executable, "-m", "remedi.eval", "--model", path, "--data", dataset["path"],
                    "--limit", "0", "--gen-length", str(gen_length), "--steps", str(steps),
                    "--block-lengths", str(block_length), "--temperature", str(temperature),
                    "--batch-size", str(batch_size), "--sources", *sources, "--remask-modes", *remask_modes,
                    "--answer-format", answer_format, "--no-detection", "--out", str(eval_dir)]
    with open(tmp_path / "remedi-eval.log", "w") as log:
        eval_run = subprocess.Popen(eval_command, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
        work = tmp_path / "outputs"
        cli = subprocess.run(
            [sys.executable, "-m", "opencompass.cli.main", str(config), "-w", str(work), "--debug"],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
        )
        assert eval_run.wait(timeout=600) == 0, (tmp_path / "remedi-eval.log").read_text()[-3000:]

    summaries = list(work.glob("*/summary/summary_*.csv"))
    assert len(summaries) == 1, f"no summary; the CLI said:\n{cli.stdout[-3000:]}\n{cli.stderr[-3000:]}"
    (summary_row,) = [r for r in csv.DictReader(summaries[0].open()) if r["dataset"] == dataset["abbr"]]
    (run_dir,) = work.iterdir()
    settings = {(r["source"], r["remask"]): r for r in json.loads((eval_dir / "results.json").read_text())["settings"]}
    for abbr, sampler in samplers.items():
        ours = settings[sampler]
        assert (ours["steps"], ours["block_length"], ours["n"]) == (steps, block_length, len(rows))
        predictions = json.loads((run_dir / "predictions" / abbr / f"{dataset['abbr']}.json").read_text())
        assert [predictions[str(i)]["prediction"] for i in range(len(rows))] == ours["completions"], abbr
        details = json.loads((run_dir / "results" / abbr / f"{dataset['abbr']}.json").read_text())["details"]
        assert [d["correct"] for d in details] == [[right] for right in ours["correct"]], abbr
        assert summary_row[abbr] == f"{100 * ours['accuracy']['mean']:.2f}", abbr
    return samplers


def test_opencompass_cli_scores_the_shipped_model_as_remedi_eval_does(tmp_path):
    """The arithmetic config on the shipped default model (about a minute)."""
    cfg = Config.fromfile(str(CONFIGS / "eval_remedi_tiny_arith.py"), format_python_code=False)
    (dataset,) = cfg.datasets
    assert dataset["path"] == str(ARITH_FIXTURE)
    assert {m["path"] for m in cfg.models} == {DEFAULT_MODEL}
    # remedi.eval grades with --answer-format strict, the rule of the config's evaluator.
    samplers = assert_cli_scores_equal_remedi_eval(tmp_path, CONFIGS / "eval_remedi_tiny_arith.py", "strict")
    assert sorted(samplers.values()) == [("tps_prob", False), ("ups", True)]


@pytest.fixture(scope="module")
def sudoku_config_on_a_stand_in(tmp_path_factory):
    """The Sudoku config with its model entries pointed at `tiny-random` saved as a model directory (the
    shipped Sudoku model may be absent), dumped as OpenCompass itself dumps a config."""
    folder = tmp_path_factory.mktemp("sudoku-stand-in")
    cfg = Config.fromfile(str(SUDOKU_CONFIG), format_python_code=False)
    for model in cfg.models:
        model["path"] = str(save_tiny_random_dir(folder / "model"))
    cfg.dump(str(folder / "eval_stand_in_sudoku.py"))
    return folder / "eval_stand_in_sudoku.py"


def test_sudoku_config_samples_96_tokens_in_one_block_at_a_quarter_budget():
    cfg = Config.fromfile(str(SUDOKU_CONFIG), format_python_code=False)
    (dataset,) = cfg.datasets
    assert dataset["path"] == str(SUDOKU_FIXTURE) and dataset["eval_cfg"]["evaluator"]["type"] is SudokuEvaluator
    assert len(GSM8KJsonlDataset.load(dataset["path"])) == 20
    shared = {(m["path"], m["gen_length"], m["gen_blocksize"], m["gen_steps"], m["temperature"], m["max_out_len"])
              for m in cfg.models}
    assert shared == {(str(SUDOKU_MODEL), 96, 96, 24, 0.0, 96)}
    assert sorted((m["confidence_source"], m["remask"]) for m in cfg.models) == [("tps_margin", False), ("ups", True)]


def test_sudoku_config_runs_on_a_stand_in_and_scores_as_remedi_eval_does(tmp_path, sudoku_config_on_a_stand_in):
    """The plumbing of the Sudoku config (96-token answers, tps_margin, the evaluator reading the questions
    from the test set) on an untrained stand-in: its grids are wrong, but completions and verdicts must match."""
    samplers = assert_cli_scores_equal_remedi_eval(tmp_path, sudoku_config_on_a_stand_in, "sudoku")
    assert sorted(samplers.values()) == [("tps_margin", False), ("ups", True)]


@pytest.mark.skipif(not SUDOKU_MODEL.is_dir(), reason=f"{SUDOKU_MODEL.relative_to(ROOT)} is not shipped yet")
def test_opencompass_cli_scores_the_shipped_sudoku_model_as_remedi_eval_does(tmp_path):
    samplers = assert_cli_scores_equal_remedi_eval(tmp_path, SUDOKU_CONFIG, "sudoku")
    assert sorted(samplers.values()) == [("tps_margin", False), ("ups", True)]


def test_chains_config_samples_80_tokens_at_a_quarter_budget_on_the_fixture():
    cfg = Config.fromfile(str(CHAINS_CONFIG), format_python_code=False)
    (dataset,) = cfg.datasets
    assert dataset["path"] == str(CHAINS_FIXTURE)
    assert dataset["eval_cfg"]["evaluator"]["type"] is StrictFinalAnswerEvaluator
    assert len(GSM8KJsonlDataset.load(dataset["path"])) == 20
    shared = {(m["path"], m["gen_length"], m["gen_blocksize"], m["gen_steps"], m["temperature"], m["max_out_len"])
              for m in cfg.models}
    assert shared == {(str(CHAINS_MODEL), 80, 80, 20, 0.0, 80)}
    assert sorted((m["confidence_source"], m["remask"]) for m in cfg.models) == [("tps_prob", False), ("ups", True)]


@pytest.mark.skipif(not CHAINS_MODEL.is_dir(), reason=f"{CHAINS_MODEL.relative_to(ROOT)} is not shipped yet")
def test_opencompass_cli_scores_the_shipped_chains_model_as_remedi_eval_does(tmp_path):
    samplers = assert_cli_scores_equal_remedi_eval(tmp_path, CHAINS_CONFIG, "strict")
    assert sorted(samplers.values()) == [("tps_prob", False), ("ups", True)]


# A hand-typed solved grid (the solution of a well-known puzzle). The puzzle keeps the cells of the first
# five columns except those holding 1 or 2: relabelling 1 <-> 2 then gives a second valid grid that keeps
# every given, while relabelling 3 <-> 4 gives a valid grid that changes given cells.
SUDOKU_ROWS = ["534678912", "672195348", "198342567", "859761423", "426853791", "713924856", "961537284",
               "287419635", "345286179"]
SUDOKU_QUESTION = "Sudoku:\n" + "\n".join(
    "".join(ch if c < 5 and ch not in "12" else "." for c, ch in enumerate(row)) for row in SUDOKU_ROWS)
SUDOKU_REFERENCE = "#### " + " ".join(SUDOKU_ROWS)


@pytest.mark.parametrize("completion, correct", [
    (SUDOKU_REFERENCE, True),
    ("#### " + "".join(SUDOKU_ROWS), True),  # one run of 81 digits, as remedi.eval also accepts
    (SUDOKU_REFERENCE.translate(str.maketrans("12", "21")), True),  # another solution of this puzzle
    (SUDOKU_REFERENCE.translate(str.maketrans("34", "43")), False),  # valid, but breaks givens
    (SUDOKU_REFERENCE[:-1] + "8", False),  # givens kept, but row 9 and column 9 hold two 8s
    (SUDOKU_REFERENCE[:-1], False),  # 80 digits
    (SUDOKU_REFERENCE + " done", False),  # not at the end
    ("", False),
])
def test_sudoku_evaluator_accepts_any_valid_grid_that_keeps_the_givens(completion, correct):
    test_set = Dataset.from_list([{"question": SUDOKU_QUESTION, "answer": SUDOKU_REFERENCE}])
    result = SudokuEvaluator().score([completion], [SUDOKU_REFERENCE], test_set)
    assert result["accuracy"] == (100.0 if correct else 0.0)
    assert result["details"][0]["correct"] is correct


def test_sudoku_evaluator_reads_each_rows_own_givens():
    other = SUDOKU_REFERENCE.translate(str.maketrans("12", "21"))
    only_the_reference = "Sudoku:\n" + "\n".join(SUDOKU_ROWS)  # every cell given
    test_set = Dataset.from_list([{"question": question, "answer": SUDOKU_REFERENCE}
                                  for question in (SUDOKU_QUESTION, only_the_reference)])
    result = SudokuEvaluator().score([other, other], [SUDOKU_REFERENCE] * 2, test_set)
    assert [d["correct"] for d in result["details"]] == [True, False] and result["accuracy"] == 50.0
    assert "error" in SudokuEvaluator().score([other], [SUDOKU_REFERENCE] * 2, test_set)


def test_threshold_and_stop_at_eos_reach_the_sampler(spy):
    """threshold=-inf settles a whole block per step: 2 blocks, 2 steps instead of the config's 4."""
    model = RemeDiChatModel(**SMALL, confidence_source="tps_prob", threshold=float("-inf"), stop_at_eos=True)
    model.generate(["What is 2 + 3?"], max_out_len=999)
    (call,) = spy
    config = call["kwargs"]["config"]
    assert config.threshold == float("-inf") and config.stop_at_eos is True
    assert all(r["step"] == 0 for r in call["trace"])
    assert [r["block"] for r in call["trace"]] in ([0], [0, 1])  # block 1 unless block 0 ended the answer


def test_threshold_that_is_not_a_number_fails_before_loading(monkeypatch):
    monkeypatch.setattr(dllm, "load_model_and_tokenizer", lambda *a, **k: pytest.fail("model loaded"))
    with pytest.raises(ValueError, match="threshold must be a number or None, got '0.9'"):
        RemeDiChatModel(**SMALL, threshold="0.9")
