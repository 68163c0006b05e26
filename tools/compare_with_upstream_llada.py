"""Check that our LLaDAModelLM computes what LLaDA's own HF modeling code computes, on the same weights.

Upstream's `configuration_llada.py` and `modeling_llada.py` (from the GSAI-ML/LLaDA-8B-Instruct hub
repository) are not shipped here; download them into a folder and point --upstream-dir at it:

    python tools/compare_with_upstream_llada.py --upstream-dir /path/to/folder_with_modeling_llada

The script builds a small random model with upstream's code, loads its state dict into ours unchanged,
and prints the largest logit and hidden-state differences, without and with a left-padding mask.
"""

import argparse
import importlib
import os

import torch

from folder_package import import_folder_as_package
from remedi import LLaDAConfig, LLaDAModelLM

PACKAGE = "upstream_llada_under_test"


def import_upstream(directory):
    import_folder_as_package(directory, PACKAGE)
    config_module = importlib.import_module(f"{PACKAGE}.configuration_llada")
    modeling_module = importlib.import_module(f"{PACKAGE}.modeling_llada")
    return config_module.LLaDAConfig, modeling_module.LLaDAModelLM


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream-dir", required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    UpstreamConfig, UpstreamModel = import_upstream(os.path.abspath(args.upstream_dir))
    fields = dict(d_model=64, n_heads=4, n_kv_heads=4, n_layers=3, mlp_hidden_size=160, vocab_size=300,
                  embedding_size=320, max_sequence_length=128, rope=True, rope_theta=500000.0, block_type="llama",
                  activation_type="silu", layer_norm_type="rms", rms_norm_eps=1e-5, weight_tying=False,
                  include_bias=False, mask_token_id=299, eos_token_id=1, pad_token_id=1)
    torch.manual_seed(args.seed)
    upstream = UpstreamModel(UpstreamConfig(attention_dropout=0.0, residual_dropout=0.0, embedding_dropout=0.0,
                                            init_fn="mitchell", **fields), init_params=True).eval()
    ours = LLaDAModelLM(LLaDAConfig(**fields)).eval()
    ours.load_state_dict(upstream.state_dict(), strict=True)
    print(f"state dict loaded unchanged ({len(upstream.state_dict())} tensors)")

    ids = torch.randint(2, 299, (2, 24))
    mask = torch.ones_like(ids)
    mask[0, :5] = 0
    ids[0, :5] = 1
    with torch.no_grad():
        a = upstream(input_ids=ids, output_hidden_states=True)
        b = ours(ids, output_hidden_states=True)
        print(f"no mask:   max |logits diff| = {(a.logits - b.logits).abs().max():.3e}")
        for i, (ha, hb) in enumerate(zip(a.hidden_states, b.hidden_states)):
            print(f"           hidden_states[{i}] max diff = {(ha - hb).abs().max():.3e}")
        a = upstream(input_ids=ids, attention_mask=mask).logits
        b = ours(ids, attention_mask=mask).logits
        print(f"left pad:  max |logits diff| on real tokens = {(a - b)[mask.bool()].abs().max():.3e} "
              "(large values mean this upstream version ignores attention_mask; the October 2025 one does not)")


if __name__ == "__main__":
    main()
