"""Upstream SMDM's model sizes and compute budget, so that train_mdm.py runs SMDM's own command line.

SMDM's `pretrain/train_mdm.py --model N --flops F --batch_size B --nodes_num K` trains its
`Diff_LLaMA_<N>M` config (N: millions of non-embedding parameters) for as many steps as F x 1e18 FLOPs
buy at 6 FLOPs per parameter and token. The facts below are read from ML-GSAI/SMDM at commit
583aa4716d17728dbb825aec6c24a121164d616a: `lit_gpt/config.py` (the Diff_LLaMA list: every size has as many
key/value groups as heads, rows of 2048 tokens) and `pretrain/train_mdm.py` (the step formula).
"""

# N -> (layers, attention heads, width, SwiGLU width) of SMDM's Diff_LLaMA_<N>M.
DIFF_LLAMA_SHAPES = {
    6: (6, 4, 256, 1024),
    19: (8, 6, 384, 1536),
    34: (8, 8, 512, 2048),
    48: (9, 9, 576, 2304),
    66: (10, 10, 640, 2560),
    75: (16, 8, 640, 1600),
    85: (13, 10, 640, 2560),
    113: (12, 12, 768, 3072),
    142: (15, 12, 768, 3072),
    170: (18, 12, 768, 3072),
    180: (14, 14, 896, 3584),
    206: (16, 14, 896, 3584),
    231: (18, 14, 896, 3584),
    268: (16, 16, 1024, 4096),
    302: (18, 16, 1024, 4096),
    336: (20, 16, 1024, 4096),
    472: (18, 10, 1280, 5120),
    551: (21, 10, 1280, 5120),
    571: (18, 11, 1408, 5632),
    629: (24, 10, 1280, 5120),
    666: (21, 11, 1408, 5632),
    717: (19, 12, 1536, 6144),
    761: (24, 11, 1408, 5632),
    831: (22, 12, 1536, 6144),
    944: (25, 12, 1536, 6144),
    1028: (20, 14, 1792, 7168),
    1233: (24, 14, 1792, 7168),
    1476: (22, 16, 2048, 8192),
    1678: (25, 16, 2048, 8192),
    2121: (28, 17, 2176, 8704),
}
SMDM_SEQ_LEN = 2048  # tokens per row of every Diff_LLaMA config, and the row length in SMDM's step formula


def diff_llama_dims(size):
    """tiny_config keyword arguments for the LLaDA-architecture model of Diff_LLaMA_<size>M's shape."""
    if size not in DIFF_LLAMA_SHAPES:
        raise ValueError(f"--model {size} is not one of SMDM's Diff_LLaMA sizes: choose one of "
                         f"{', '.join(map(str, DIFF_LLAMA_SHAPES))} (millions of parameters)")
    n_layers, n_heads, d_model, mlp_hidden_size = DIFF_LLAMA_SHAPES[size]
    return dict(d_model=d_model, n_layers=n_layers, n_heads=n_heads, n_kv_heads=n_heads,
                mlp_hidden_size=mlp_hidden_size)


def non_embedding_parameters(size):
    """Parameters of Diff_LLaMA_<size>M outside the embedding and the output head, the N of SMDM's 6ND.

    Per block: four width x width attention projections (as many key/value groups as heads), three
    width x MLP SwiGLU matrices and two RMSNorm weights; plus the final norm. These are the counts
    SMDM's `model_para_config` lists (6 -> 6.294784M), and a LLaDA block has the same parameters.
    """
    n_layers, _, d_model, mlp_hidden_size = DIFF_LLAMA_SHAPES[size]
    return n_layers * (4 * d_model**2 + 3 * d_model * mlp_hidden_size + 2 * d_model) + d_model


def steps_for_budget(flops, size, batch_rows, nodes, seq_len=SMDM_SEQ_LEN):
    """Optimizer steps that `flops` x 1e18 FLOPs buy for Diff_LLaMA_<size>M at `batch_rows` rows of `seq_len`
    tokens per step, computed as SMDM writes it (its batch per node, parameters in millions, int() at the
    end), so that the same command gives the same number of steps."""
    rows_per_node = int(batch_rows / nodes)
    millions = non_embedding_parameters(size) / 1e6
    return int(flops * 1e12 / (6 * millions * rows_per_node * seq_len) / nodes)
