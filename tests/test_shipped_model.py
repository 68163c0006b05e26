"""The tiny model shipped as the default: trained, complete, and as good as its model card says."""

from pathlib import Path

import pytest
import torch

import generate
from remedi import RemeDiModel, UPSHead, load_ups
from remedi.data.arith_chains import make_splits
from remedi.grading.answers import extract_gsm8k, grade
from remedi.model.loading import DEFAULT_MODEL, load_model_and_tokenizer
from remedi.model.tokenizer import encode_prompts, special_token_ids
from remedi.model.ups_heads import UPSPosition, UPSTPSHead
from remedi.sampler.sampling import generate as sample

ROOT = Path(__file__).resolve().parents[1]


def held_out_problems(n):
    """The first n problems of the test split the shipped model was evaluated on (never trained on)."""
    return make_splits(seed=0)["test"][:n]


def test_default_model_is_the_shipped_remedi_model():
    assert Path(DEFAULT_MODEL) == ROOT / "models" / "remedi-tiny-arith"
    model, tokenizer = load_model_and_tokenizer()
    assert isinstance(model, RemeDiModel) and isinstance(model.ups_head, UPSHead)
    assert model.config.mask_token_id == special_token_ids(tokenizer)["mask_id"]


def test_shipped_model_solves_held_out_chains_at_the_full_step_budget():
    """The model card reports about 97% on 500 test problems; 40 problems must clear a loose 80%."""
    torch.manual_seed(0)
    model, tokenizer = load_model_and_tokenizer()
    problems = held_out_problems(40)
    ids, mask = encode_prompts(tokenizer, [p["question"] for p in problems])
    special = special_token_ids(tokenizer)
    for source in ("tps_prob", "ups"):
        out = sample(model, ids, mask, steps=32, gen_length=32, block_length=32, mask_id=special["mask_id"],
                     confidence_source=source, remask=source == "ups")
        answers = tokenizer.batch_decode(out[:, ids.shape[1]:], skip_special_tokens=True)
        correct = [extract_gsm8k(a) == extract_gsm8k(p["answer"]) for a, p in zip(answers, problems)]
        assert sum(correct) / len(correct) >= 0.8, (source, sum(correct))


def test_generate_cli_default_answers_its_demo_prompt(capsys):
    generate.main([])
    printed = capsys.readouterr().out
    assert "#### 3" in printed  # 7 - 3 + 5 - 8 + 2 = 3


def test_the_default_ups_is_the_remask_rl_policy_and_the_sft_head_is_kept():
    rl_head, sft_head = (load_ups(Path(DEFAULT_MODEL) / name) for name in ("ups", "ups-sft"))
    assert isinstance(rl_head, UPSHead) and isinstance(sft_head, UPSHead)
    rl_weights, sft_weights = rl_head.state_dict(), sft_head.state_dict()
    assert any(not torch.equal(rl_weights[k], sft_weights[k]) for k in rl_weights)


def test_remask_rl_policy_solves_held_out_chains_in_four_steps_where_the_sft_head_does_not():
    """The model card reports ~98% (RL) and ~49% (SFT) at 4 steps on 1000 test problems; 100 of them must
    show RL above 90% and at least 25 points above the SFT-only head, graded strictly."""
    model, tokenizer = load_model_and_tokenizer()
    problems = held_out_problems(100)
    ids, mask = encode_prompts(tokenizer, [p["question"] for p in problems])
    special = special_token_ids(tokenizer)
    accuracy = {}
    for name in ("ups", "ups-sft"):
        model.ups_head = load_ups(Path(DEFAULT_MODEL) / name)
        out = sample(model, ids, mask, steps=4, gen_length=32, block_length=32, mask_id=special["mask_id"])
        answers = tokenizer.batch_decode(out[:, ids.shape[1]:], skip_special_tokens=True)
        accuracy[name] = sum(grade(a, p["answer"], "strict")[1] for a, p in zip(answers, problems)) / len(problems)
    assert accuracy["ups"] >= 0.9 and accuracy["ups"] - accuracy["ups-sft"] >= 0.25, accuracy


BLOCK_CAUSAL = ROOT / "models" / "remedi-tiny-arith-blockcausal"


def test_shipped_block_causal_model_is_block_causal_and_its_exact_cache_changes_no_answer():
    """Its card reports 99.9% on 1000 test problems at 32 steps, blocks of 8; 40 must clear a loose 90%,
    and the exact KV cache must give the very tokens of the uncached sampler."""
    model, tokenizer = load_model_and_tokenizer(str(BLOCK_CAUSAL))
    assert isinstance(model, RemeDiModel)
    assert model.config.attention_layout == "block_causal" and model.config.attention_block_length == 8
    problems = held_out_problems(40)
    ids, mask = encode_prompts(tokenizer, [p["question"] for p in problems])
    special = special_token_ids(tokenizer)
    outputs = {cache: sample(model, ids, mask, steps=32, gen_length=32, block_length=8, mask_id=special["mask_id"],
                             confidence_source="ups", remask=True, kv_cache=cache)
               for cache in ("none", "exact")}
    assert torch.equal(outputs["none"], outputs["exact"])
    answers = tokenizer.batch_decode(outputs["exact"][:, ids.shape[1]:], skip_special_tokens=True)
    correct = [grade(a, p["answer"], "strict")[1] for a, p in zip(answers, problems)]
    assert sum(correct) / len(correct) >= 0.9, sum(correct)


SUDOKU = ROOT / "models" / "remedi-tiny-sudoku"


def test_shipped_sudoku_model_writes_grids_and_an_adaptive_order_fills_more_cells_than_random():
    """Its card: at 24 steps on 1000 test puzzles without remasking, tps_margin solves 58.1% and random order
    31.7%. On 20 held-out puzzles the grids must parse and keep the givens, and tps_margin must fill more
    empty cells right."""
    import json

    from remedi.grading.sudoku import extract_sudoku, sudoku_givens

    model, tokenizer = load_model_and_tokenizer(str(SUDOKU))
    assert isinstance(model, RemeDiModel) and (SUDOKU / "ups").is_dir()
    puzzles = [json.loads(line) for line in (ROOT / "tests" / "fixtures" / "sudoku_test20.jsonl").read_text().splitlines()]
    ids, mask = encode_prompts(tokenizer, [p["question"] for p in puzzles])
    right_cells = {}
    for source in ("tps_margin", "random"):
        torch.manual_seed(0)
        out = sample(model, ids, mask, steps=24, gen_length=96, block_length=96,
                     mask_id=special_token_ids(tokenizer)["mask_id"], confidence_source=source, remask=False)
        grids = [extract_sudoku(text) for text in tokenizer.batch_decode(out[:, ids.shape[1]:], skip_special_tokens=True)]
        assert sum(grid is not None for grid in grids) >= 18, source
        right_cells[source] = 0
        for grid, puzzle in zip(grids, puzzles):
            givens, solution = sudoku_givens(puzzle["question"]), extract_sudoku(puzzle["answer"])
            if grid is not None:
                assert sum(g == int(d) for g, d in zip(givens, grid) if g) >= 0.9 * sum(g != 0 for g in givens)
                right_cells[source] += sum(grid[i] == solution[i] for i, g in enumerate(givens) if g == 0)
    assert right_cells["tps_margin"] > right_cells["random"], right_cells


CHAINS = ROOT / "models" / "remedi-tiny-chains"


def test_shipped_chains_model_answers_held_out_chains_at_a_quarter_of_the_budget():
    """Its card reports the RL head with remasking at 20 steps for 80 tokens on 1000 test chains (above 80%,
    far above tps_prob's 40%); on the 20 fixture chains it must answer at least 12, which tps_prob alone
    does not reach on them."""
    import json

    model, tokenizer = load_model_and_tokenizer(str(CHAINS))
    assert isinstance(model, RemeDiModel) and all((CHAINS / name).is_dir() for name in ("ups", "ups-sft", "ups-position"))
    problems = [json.loads(line) for line in
                (ROOT / "tests" / "fixtures" / "chains19l_test20.jsonl").read_text().splitlines()]
    ids, mask = encode_prompts(tokenizer, [p["question"] for p in problems])
    answers = {}
    for source, remask in (("ups", True), ("tps_prob", False)):
        out = sample(model, ids, mask, steps=20, gen_length=80, block_length=80,
                     mask_id=special_token_ids(tokenizer)["mask_id"], confidence_source=source, remask=remask)
        texts = tokenizer.batch_decode(out[:, ids.shape[1]:], skip_special_tokens=True)
        answers[source] = sum(grade(text, p["answer"], "strict")[1] for text, p in zip(texts, problems))
    assert answers["ups"] >= 12 and answers["ups"] > answers["tps_prob"], answers


def test_shipped_sudoku_default_ups_with_remasking_solves_more_than_tps_margin_with_remasking(one_thread):
    """Its card: the default `ups/` head with remasking solves more puzzles than tps_margin + remask (84.2
    against 52.6% at 12 steps on 1000 test puzzles). On the 20 fixture puzzles at 12 steps it must solve more
    and complete no fewer units."""
    import json

    from remedi.grading.sudoku import complete_unit_share, extract_sudoku, sudoku_givens, sudoku_solves

    model, tokenizer = load_model_and_tokenizer(str(SUDOKU))
    puzzles = [json.loads(line) for line in (ROOT / "tests" / "fixtures" / "sudoku_test20.jsonl").read_text().splitlines()]
    ids, mask = encode_prompts(tokenizer, [p["question"] for p in puzzles])
    solved, units = {}, {}
    for source in ("ups", "tps_margin"):
        out = sample(model, ids, mask, steps=12, gen_length=96, block_length=96,
                     mask_id=special_token_ids(tokenizer)["mask_id"], confidence_source=source, remask=True)
        grids = [extract_sudoku(text) for text in tokenizer.batch_decode(out[:, ids.shape[1]:], skip_special_tokens=True)]
        givens = [sudoku_givens(p["question"]) for p in puzzles]
        solved[source] = sum(sudoku_solves(grid, given) for grid, given in zip(grids, givens))
        units[source] = sum(complete_unit_share(grid, given) for grid, given in zip(grids, givens))
    assert solved["ups"] > solved["tps_margin"] and units["ups"] >= units["tps_margin"], (solved, units)


SHIPPED_UPS = sorted(path.parent for path in ROOT.glob("models/*/ups*/ups_config.json"))


@pytest.mark.parametrize("directory", SHIPPED_UPS, ids=[f"{d.parent.name}/{d.name}" for d in SHIPPED_UPS])
def test_every_shipped_ups_head_has_left_its_initialisation(directory):
    """An untrained head once shipped unnoticed. What a fresh head looks like: the position-only control's
    logits are a straight line in the position (zeros, or a left-to-right start such as -arange); the
    TPS-reading head's hidden-state MLP ends in a zero layer and its feature map is zero; an MLP head's
    layers are drawn within +-1/sqrt(fan_in) (PyTorch's Linear), so a weight beyond that was trained."""
    head = load_ups(directory)
    if isinstance(head, UPSPosition):
        # every start is a straight line in the position (zeros, -arange, -0.5 * arange): training bends it
        assert torch.diff(head.logits.detach(), n=2).abs().max() > 1e-4
    elif isinstance(head, UPSTPSHead):
        assert head.hidden_net[-1].weight.any() and head.feature_map.weight.any()
    else:
        last = head.net[-1]
        assert (last.weight.abs() > last.in_features ** -0.5).any()
