"""remedi_patches/ and the code agree in both directions: every flag and keyword argument a document names
exists, and every flag or wrapper option of ours that upstream lacks is named in its document."""

import argparse
import ast
import importlib
import inspect
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = sorted((ROOT / "remedi_patches").glob("*.md"))
# The module whose parse_args builds the command line each document describes (the root scripts are modules
# at the repository root, as upstream LLaDA's; the trainers' flags live in the library).
FRONT_ENDS = {"LLaDA-generate.py.md": "generate", "LLaDA-chat.py.md": "chat", "LLaDA-app.py.md": "app",
              "LLaDA-get_log_likelihood.py.md": "get_log_likelihood", "SMDM-train_mdm.py.md": "remedi.train.mdm_args",
              "SMDM-train_mdm_rl.py.md": "remedi.train.rl_args"}
FLAG = r"`(--[a-z][a-z0-9_-]*)[`\s=]"  # `--flag`, or `--flag VALUE` inside one code span
# Upstream's own flags and options, which need no entry: SMDM's pretrain/train_mdm.py and train_mdm_rl.py
# (argparse, at 583aa47); LLaDA's generate.py, chat.py and app.py have none; LLaDA's OpenCompass wrapper
# `LLaDAModel.__init__` in opencompass/opencompass/models/dllm.py (at b7e6c35).
UPSTREAM_FLAGS = {"SMDM-train_mdm.py.md": {"--model", "--flops", "--batch_size", "--nodes_num"},
                  "SMDM-train_mdm_rl.py.md": {"--model", "--flops", "--batch_size", "--nodes_num", "--ssl_ratio"}}
UPSTREAM_OPENCOMPASS_OPTIONS = {
    "path", "hf_cache_dir", "max_seq_len", "tokenizer_path", "tokenizer_kwargs", "peft_path", "tokenizer_only",
    "model_kwargs", "generation_kwargs", "meta_template", "extract_pred_after_decode", "batch_padding",
    "pad_token_id", "mode", "use_fastchat_template", "end_str", "stop_words", "cfg", "temperature", "remasking",
    "mask_id", "padding_id", "mc_num", "gen_steps", "gen_length", "gen_blocksize", "batch_size_",
    "diff_confidence_eos_eot_inf", "diff_logits_eos_inf",
}
OPENCOMPASS_DOC = "LLaDA-opencompass-dllm.py.md"


def our_files(doc_text):
    """Files named in the doc's `- ours:` item (which may wrap over several lines)."""
    item = re.search(r"^- ours:(.*?)(?=^\S|^\s*$)", doc_text, flags=re.M | re.S).group(1)
    return [ROOT / p for p in re.findall(r"`([\w/.-]+\.py)`", item)]


class _Caught(Exception):
    def __init__(self, parser):
        self.parser = parser


def command_line_flags(module_name, monkeypatch):
    """Every option string of the parser that the module's parse_args builds (caught before it parses)."""
    module = importlib.import_module(module_name)

    def catch(parser, *args, **kwargs):
        raise _Caught(parser)

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", catch)
    with pytest.raises(_Caught) as caught:
        module.parse_args([])
    return {flag for action in caught.value.parser._actions for flag in action.option_strings} - {"-h", "--help"}


@pytest.mark.parametrize("doc", DOCS, ids=[d.name for d in DOCS])
def test_documented_flags_exist(doc, monkeypatch):
    text = doc.read_text()
    files = our_files(text)
    assert files, f"{doc.name} names no files of ours"
    code = "\n".join(f.read_text() for f in files)
    flags = set(re.findall(FLAG, text))
    keywords = set(re.findall(r"`([a-z_][a-z0-9_]*)=`", text))
    if doc.name in FRONT_ENDS:
        files = [FRONT_ENDS[doc.name] + "'s command line"]
        missing = sorted(flags - command_line_flags(FRONT_ENDS[doc.name], monkeypatch))
    else:
        files = [f.name for f in files]
        missing = [f for f in flags if f'"{f}"' not in code and f"'{f}'" not in code]
    missing += [k for k in keywords if not re.search(rf"\b{k}\s*[:=]", code)]
    assert not missing, f"{doc.name} documents {missing}, not found in {files}"


def test_every_doc_names_an_upstream_commit():
    assert DOCS
    for doc in DOCS:
        assert re.search(r"\b[0-9a-f]{40}\b", doc.read_text()), f"{doc.name} names no upstream commit"


@pytest.mark.parametrize("doc_name", sorted(FRONT_ENDS))
def test_every_flag_of_ours_is_documented(doc_name, monkeypatch):
    text = (ROOT / "remedi_patches" / doc_name).read_text()
    documented = set(re.findall(FLAG, text))
    # --no-X is the other half of a documented --X (argparse's BooleanOptionalAction)
    ours = {flag for flag in command_line_flags(FRONT_ENDS[doc_name], monkeypatch)
            if not (flag.startswith("--no-") and "--" + flag[len("--no-"):] in documented)}
    undocumented = sorted(ours - UPSTREAM_FLAGS.get(doc_name, set()) - documented)
    assert not undocumented, f"{doc_name} does not document {undocumented} of {FRONT_ENDS[doc_name]}"


def wrapper_options():
    """The keyword options of our OpenCompass wrapper classes, read from the source (OpenCompass itself may be
    missing: the plugin's own tests are skipped then, this check is not)."""
    tree = ast.parse((ROOT / "opencompass" / "remedi_opencompass" / "dllm.py").read_text())
    options = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name in ("RemeDiBaseModel", "RemeDiChatModel"):
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name == "__init__":
                    options |= {a.arg for a in item.args.args + item.args.kwonlyargs} - {"self"}
    return options


def test_every_opencompass_option_of_ours_is_documented():
    text = (ROOT / "remedi_patches" / OPENCOMPASS_DOC).read_text()
    documented = set(re.findall(r"`([a-z_][a-z0-9_]*)=`", text))
    options = wrapper_options()
    assert "ups_path" in options  # the source was read
    undocumented = sorted(options - UPSTREAM_OPENCOMPASS_OPTIONS - documented)
    assert not undocumented, f"{OPENCOMPASS_DOC} does not document the options {undocumented}"


def test_sampler_keywords_of_ours_are_documented():
    """`generate`'s keyword-only arguments are ours (upstream's are positional): each is in the generate document."""
    from remedi.sampler.sampling import generate

    text = (ROOT / "remedi_patches" / "LLaDA-generate.py.md").read_text()
    documented = set(re.findall(r"`([a-z_][a-z0-9_]*)=`", text))
    keywords = {name for name, parameter in inspect.signature(generate).parameters.items()
                if parameter.kind == parameter.KEYWORD_ONLY}
    assert not sorted(keywords - documented), f"LLaDA-generate.py.md does not document {sorted(keywords - documented)}"


# Upstream eval_llada.py's LLaDAEvalHarness.__init__ keywords (at dacecad), which need no entry.
UPSTREAM_LM_EVAL_ARGS = {"model_path", "mask_id", "max_length", "batch_size", "mc_num", "is_check_greedy", "cfg", "steps",
                         "gen_length", "block_length", "remasking", "device"}


def test_every_lm_eval_model_arg_of_ours_is_documented():
    """The fields of HarnessOptions (read from the source: lm-eval may be missing) that upstream lacks."""
    tree = ast.parse((ROOT / "remedi" / "eval" / "lm_eval_harness.py").read_text())
    options = next(node for node in ast.walk(tree) if isinstance(node, ast.ClassDef) and node.name == "HarnessOptions")
    fields = {item.target.id for item in options.body if isinstance(item, ast.AnnAssign)}
    assert {"model_path", "ups_path", "kv_cache"} <= fields  # the source was read
    documented = set(re.findall(r"`([a-z_][a-z0-9_]*)=`", (ROOT / "remedi_patches" / "LLaDA-eval_llada.py.md").read_text()))
    undocumented = sorted(fields - UPSTREAM_LM_EVAL_ARGS - documented)
    assert not undocumented, f"LLaDA-eval_llada.py.md does not document the model_args {undocumented}"
