"""Upstream SMDM's command line in train_mdm.py: --model N, --flops F, --batch_size B, --nodes_num K.

Expected values are read off SMDM's lit_gpt/config.py (Diff_LLaMA_<N>M) and its pretrain/train_mdm.py
(model_para_config and the max_step formula) at commit 583aa47, and worked out by hand below.
"""

import pytest

from remedi import LLaDAModelLM
from remedi.cli import run_cli
from remedi.model.tiny import tiny_config
from remedi.model.tokenizer import build_char_tokenizer
from remedi.train import mdm_args
from remedi.train.smdm import diff_llama_dims, non_embedding_parameters, steps_for_budget


@pytest.mark.parametrize("size, layers, heads, width, mlp, millions", [
    (6, 6, 4, 256, 1024, 6.294784),
    (170, 18, 12, 768, 3072, 169.897728),
    (1028, 20, 14, 1792, 7168, 1027.677952),
    (2121, 28, 17, 2176, 8704, 2121.39328),
])
def test_sizes_have_smdm_shapes_and_parameter_counts(size, layers, heads, width, mlp, millions):
    assert diff_llama_dims(size) == dict(d_model=width, n_layers=layers, n_heads=heads, n_kv_heads=heads,
                                         mlp_hidden_size=mlp)
    assert non_embedding_parameters(size) == round(millions * 1e6)


def test_model_6_builds_a_llada_model_with_smdm_parameter_count():
    args = mdm_args.parse_args(["--model", "6"])
    assert (args.seq_len, args.max_steps, args.grad_accum_steps) == (2048, 1000, 1)
    config = tiny_config(build_char_tokenizer(), max_sequence_length=args.seq_len,
                         **{k: getattr(args, k) for k in ("d_model", "n_layers", "n_heads", "n_kv_heads",
                                                          "mlp_hidden_size")})
    model = LLaDAModelLM(config)
    transformer = model.model.transformer
    embeddings = transformer.wte.weight.numel() + transformer.ff_out.weight.numel()
    assert sum(p.numel() for p in model.parameters()) - embeddings == 6_294_784


def test_flops_give_smdm_steps():
    # 10e18 / (6 * 169.897728e6 * 256 rows * 2048 tokens) = 18710.9 -> 18710 steps; 256 rows = 8 x 32 passes
    args = mdm_args.parse_args(["--model", "170", "--flops", "10", "--batch_size", "256", "--micro-batch-size", "8"])
    assert (args.max_steps, args.grad_accum_steps, args.seq_len, args.n_layers) == (18710, 32, 2048, 18)
    # two nodes: SMDM's batch per node is 128 and its count is divided by 2 again: the same 18710 steps
    args = mdm_args.parse_args(["--model", "170", "--flops", "10", "--batch_size", "256", "--micro-batch-size", "8",
                                 "--nodes_num", "2"])
    assert (args.max_steps, args.grad_accum_steps, args.num_nodes) == (18710, 16, 2)
    # 0.001e18 / (6 * 6.294784e6 * 8 rows * 512 tokens) = 1e15 / 1.54700611584e11 = 6464.1 -> 6464
    assert steps_for_budget(0.001, 6, 8, 1, seq_len=512) == 6464


@pytest.mark.parametrize("argv, message", [
    (["--flops", "1"], "give --model N too"),
    (["--model", "6", "--flops", "1", "--max-steps", "10"], "--flops sets --max-steps"),
    (["--batch_size", "64", "--grad-accum-steps", "2"], "--batch_size sets --grad-accum-steps"),
    (["--batch_size", "100", "--micro-batch-size", "8"], "not a positive multiple of the 8 rows"),
    (["--model", "7"], "not one of SMDM's Diff_LLaMA sizes"),
    (["--model", "6", "--model-path", "x"], "drop --model-path"),
    (["--model", "6", "--d-model", "64"], "--d-model sets a tiny model's shape"),
    (["--nodes_num", "2", "--num-nodes", "3"], "give one of them"),
    (["--model", "6", "--flops", "1e-9"], "buys no optimizer step"),
])
def test_combinations_that_make_no_sense_are_one_error_line(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        run_cli(mdm_args.parse_args, argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
