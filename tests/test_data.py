import json
from pathlib import Path

import datasets
import pytest
import torch

from remedi.data import (
    build_sft_examples,
    load_gsm8k,
    load_local_pairs,
    load_math500,
    load_opc,
    load_s1k,
    load_sft_pairs,
    pack_texts,
    random_length_crop,
)
from remedi.data.resolve import load_sft_rows
from remedi.data.sources import SHARED_DATA_DIR
from remedi.model.tokenizer import build_char_tokenizer

FIXTURES = Path(__file__).parent / "fixtures"
S1K = FIXTURES / "s1k_1.1_sample.jsonl"
OPC = FIXTURES / "opc_sft_stage2_educational_instruct_sample.jsonl"
GSM8K_TEST = SHARED_DATA_DIR / "gsm8k_test.jsonl"
needs_shared = pytest.mark.skipif(not GSM8K_TEST.is_file(), reason="../shared/data is not available")


@pytest.fixture(autouse=True)
def _private_datasets_cache(tmp_path, monkeypatch):
    """Keep the arrow files `datasets` writes out of the user's cache."""
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf_cache")


@pytest.fixture(scope="module")
def tok():
    return build_char_tokenizer()


@needs_shared
def test_gsm8k_slice(tmp_path):
    lines = GSM8K_TEST.read_text().splitlines()[:5]
    path = tmp_path / "gsm8k_slice.jsonl"
    path.write_text("\n".join(lines) + "\n")
    pairs = load_gsm8k(path=path)
    first = json.loads(lines[0])
    assert len(pairs) == 5 and pairs[0][0] == first["question"]
    assert "<<" in first["answer"] and "<<" not in pairs[0][1]
    assert pairs[0][1].endswith("#### 18")
    assert load_gsm8k(path=path, keep_calculator_annotations=True)[0][1] == first["answer"]


@needs_shared
def test_shared_files_are_the_default():
    assert len(load_gsm8k(split="test")) == 1319
    pairs = load_math500()
    assert len(pairs) == 500 and "\\boxed" in pairs[0][1]


def test_s1k_fixture(tok):
    pairs = load_s1k(path=S1K)
    assert len(pairs) == 5
    question, response = pairs[0]
    assert question == "What is 7 * 8?"
    assert response.startswith("<think>\n7 * 8 is") and response.endswith("</think>\n\n**Answer:** 56")
    assert pairs[4][1] is None  # deepseek_attempt is null in the last row
    gemini = load_s1k(path=S1K, thinking_column="gemini_thinking_trajectory", attempt_column="gemini_attempt")
    assert gemini[0][1].startswith("<think>\nGemini:") and gemini[4][1] is not None
    examples = build_sft_examples(pairs, tok, seq_len=256)
    assert examples.counts["malformed"] == 1 and examples.counts["kept"] == 4


def test_opc_fixture_json_and_parquet(tmp_path):
    pairs = load_opc("educational_instruct", path=OPC)
    assert len(pairs) == 5 and pairs[1][0] == "Write a function to reverse a string."
    parquet = tmp_path / "opc.parquet"
    datasets.Dataset.from_json(str(OPC)).to_parquet(str(parquet))
    assert load_opc("educational_instruct", path=parquet) == pairs
    assert load_sft_pairs("opc", config="educational_instruct", path=OPC) == pairs
    with pytest.raises(ValueError, match="config"):
        load_opc("stage1", path=OPC)


def test_local_loader_columns(tmp_path):
    assert load_local_pairs(OPC, "code", "entry_point")[0][1] == "list_sum"
    with pytest.raises(ValueError, match="available"):
        load_local_pairs(OPC, "prompt", "output")
    with pytest.raises(ValueError, match="unsupported"):
        load_local_pairs(tmp_path / "data.csv", "a", "b")
    with pytest.raises(ValueError, match="unknown"):
        load_sft_pairs("alpaca")


def test_local_file_mistakes_name_the_file_and_line(tmp_path):
    good = json.dumps({"prompt": "q", "response": "a"})
    cases = {
        "broken.jsonl": (f"{good}\n\n{good[:-1]}\n{good}\n", r"line 3 of .*broken\.jsonl is not valid JSON"),
        "array.jsonl": (f"{good}\n[1, 2]\n", r"line 2 of .*array\.jsonl is not a JSON object"),
        "latin1.jsonl": (None, r"line 1 of .*latin1\.jsonl is not UTF-8"),
        "empty.jsonl": ("", r"empty\.jsonl is empty"),
        "blank.jsonl": ("\n  \n", r"blank\.jsonl holds only blank lines"),
    }
    for name, (text, message) in cases.items():
        path = tmp_path / name
        if text is None:
            path.write_bytes('{"prompt": "caf\u00e9", "response": "a"}\n'.encode("latin-1"))
        else:
            path.write_text(text)
        with pytest.raises(ValueError, match=message):
            load_local_pairs(path, "prompt", "response")
    with pytest.raises(FileNotFoundError, match=r"data file .*missing\.jsonl does not exist"):
        load_local_pairs(tmp_path / "missing.jsonl", "prompt", "response")
    (tmp_path / "blank_lines_between.jsonl").write_text(f"{good}\n\n{good}\n")
    assert load_local_pairs(tmp_path / "blank_lines_between.jsonl", "prompt", "response") == [("q", "a")] * 2


def test_seq_len_that_cuts_most_answers_is_refused_and_one_that_cuts_some_warns(tok, tmp_path, capsys):
    P = len(tok.apply_chat_template([{"role": "user", "content": "q"}], add_generation_prompt=True))
    path = tmp_path / "pairs.jsonl"  # three answers of P + 2 + 1 tokens with their end-of-turn, one of P + 30 + 1
    path.write_text("".join(json.dumps({"prompt": "q", "response": r}) + "\n" for r in ["ab", "cd", "ef", "y" * 30]))
    examples = load_sft_rows(str(path), tok, seq_len=P + 10)
    assert examples.counts["truncated"] == 1
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1
    assert "1 of 4 answers" in warnings[0] and "(25%)" in warnings[0] and f"--seq-len {P + 31} keeps" in warnings[0]
    with pytest.raises(ValueError, match=rf"4 of 4 answers .*\(100%\) are cut at --seq-len {P + 2}.* needs {P + 31}"):
        load_sft_rows(str(path), tok, seq_len=P + 2)
    load_sft_rows(str(path), tok, seq_len=P + 31)
    assert "warning" not in capsys.readouterr().err


def test_sft_row_layout(tok):
    examples = build_sft_examples([("2+2?", "4"), ("Say hi.", "hi there")], tok, seq_len=48)
    assert examples.input_ids.shape == (2, 48) and examples.input_ids.dtype == torch.long
    for i, (prompt, response) in enumerate([("2+2?", "4"), ("Say hi.", "hi there")]):
        prompt_ids = tok.apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True)
        P = examples.prompt_lengths[i].item()
        assert P == len(prompt_ids)
        row = examples.input_ids[i].tolist()
        assert row[:P] == prompt_ids
        R = len(response)
        assert tok.decode(row[P : P + R]) == response  # one token per character
        assert row[P + R] == tok.convert_tokens_to_ids("<|eot_id|>")
        assert all(x == tok.eos_token_id for x in row[P + R + 1 :])  # EOS padding, part of the answer


def test_sft_skips_and_counts(tok, capsys):
    pairs = [
        ("ok", "fine"),
        (None, "x"),
        ("q", 42),
        "not a pair",
        ("", "x"),
        ("q", "   "),
        ("a long prompt " * 10, "x"),
    ]
    examples = build_sft_examples(pairs, tok, seq_len=64)
    assert examples.counts == dict(kept=1, truncated=0, empty=2, malformed=3, too_long=1)
    assert "kept 1 (truncated 0), skipped: empty=2 malformed=3 too_long=1" in capsys.readouterr().out
    with pytest.raises(ValueError, match="no usable"):
        build_sft_examples([(None, None), ("", "")], tok, seq_len=64)


def test_sft_truncation(tok):
    long_answer = [("q", "y" * 100)]
    cut = build_sft_examples(long_answer, tok, seq_len=40)
    assert cut.counts["truncated"] == 1 and cut.input_ids.shape == (1, 40)
    assert cut.input_ids[0, cut.prompt_lengths[0] :].eq(tok.convert_tokens_to_ids("y")).all()
    with pytest.raises(ValueError):
        build_sft_examples(long_answer, tok, seq_len=40, truncate=False)
    P = len(tok.apply_chat_template([{"role": "user", "content": "q"}], add_generation_prompt=True))
    with pytest.raises(ValueError):  # the prompt fills the row: no room for an answer
        build_sft_examples(long_answer, tok, seq_len=P)
    assert build_sft_examples(long_answer, tok, seq_len=P + 1).counts["kept"] == 1


def test_pack_texts(tok):
    rows = pack_texts(["abc", "de", "fghij"], tok, seq_len=4)  # 4 + 3 + 6 = 13 tokens -> 3 rows
    eos = tok.eos_token_id
    abc, de = tok(["abc", "de"], add_special_tokens=False)["input_ids"]
    expected = abc + [eos] + de
    assert rows.shape == (3, 4)
    assert rows.flatten()[:7].tolist() == expected + [eos]
    with pytest.raises(ValueError):
        pack_texts(["a"], tok, seq_len=8)


def test_random_length_crop():
    x = torch.arange(40).view(4, 10)
    assert random_length_crop(x, prob=0.0) is x
    g = torch.Generator().manual_seed(0)
    lengths = {random_length_crop(x, prob=1.0, generator=g).shape[1] for _ in range(300)}
    assert lengths == set(range(1, 11))
    y = random_length_crop(x, prob=1.0, generator=g)
    assert torch.equal(y, x[:, : y.shape[1]])  # a prefix of every row
    fired = sum(random_length_crop(x, generator=g).shape[1] < 10 for _ in range(20000))
    # crops fire with p = 0.01 and shorten with prob 9/10: mean 180, binomial std about 13
    assert abs(fired - 180) < 5 * 13.4


def test_sft_rows_feed_remask_noise_and_loss(tok):
    """The pieces fit together: SFT rows -> Remask noise with the tokenizer's specials -> a finite loss."""
    from remedi.train.losses import remask_sft_loss
    from remedi.train.noise import remask_forward_process

    examples = build_sft_examples(load_opc(path=OPC), tok, seq_len=160)
    x, pl = examples.input_ids, examples.prompt_lengths
    nb = remask_forward_process(
        x, pl, mask_id=tok.mask_token_id, vocab_size=len(tok), special_ids=tok.all_special_ids, r_incorrect=0.5,
        replacement="batch", generator=torch.Generator().manual_seed(0),
    )
    assert not torch.isin(nb.noisy_ids[nb.incorrect], torch.tensor(tok.all_special_ids)).any()
    logits = torch.randn(*x.shape, len(tok), requires_grad=True)
    ups_logits = torch.randn(x.shape, requires_grad=True)
    out = remask_sft_loss(logits, ups_logits, x, nb.masked, nb.incorrect, nb.p_mask, pl)
    out.total.backward()
    assert torch.isfinite(out.total) and logits.grad is not None and ups_logits.grad is not None
