"""Check that our classes compute what the RemeDi release's own modeling code computes, on the same weights.

The release's `configuration_llada.py` and `modelling_llada_bitowel.py` (from the iiiutch/RemeDi-Instruct
hub repository or the release's GitHub code, `remedi/`) are not shipped here; download them into a
folder and point --upstream-dir at it:

    python tools/compare_with_remedi_release.py --upstream-dir /path/to/folder_with_modelling_llada_bitowel

Both directions are checked on a small random config (the release reads its UPS after layers 0/10/20/30,
so it has 31 layers, each tiny): a model built and saved by the release's code loads into ours, and a
model saved by us in the release layout loads into the release's code. Every parameter is perturbed
first, so the zero-initialised write-backs cannot make the two agree by accident. The script prints the
largest difference of logits and confidences without padding and with a left-padding attention_mask, for
bidirectional attention and for the release's block attention (passed to its code as `attention_bias`,
to ours as the block-causal layout with `answer_start`).
"""

import argparse
import glob
import importlib
import importlib.machinery
import importlib.util
import os
import sys
import tempfile

import torch

from folder_package import import_folder_as_package
from remedi import LLaDAConfig, LLaDAModelLM, RemeDiModel
from remedi.model.release import release_stream, save_release

PACKAGE = "remedi_release_under_test"
# The release's GitHub code imports its config from here; the alias lets that line run unchanged.
GITHUB_CONFIG_MODULE = "networks.block_llada.configuration_llada"
TINY_FIELDS = dict(d_model=32, n_heads=4, n_kv_heads=2, n_layers=31, mlp_hidden_size=48, vocab_size=90,
                   embedding_size=128, max_sequence_length=64, rope=True, rope_theta=500000.0, block_type="llama",
                   activation_type="silu", layer_norm_type="rms", rms_norm_eps=1e-5, weight_tying=False,
                   include_bias=False, mask_token_id=89, eos_token_id=1, pad_token_id=1)
PROMPT_LENGTH, ATTENTION_BLOCK = 8, 4
RELEASE_ONLY_FIELDS = dict(attention_dropout=0.0, residual_dropout=0.0, embedding_dropout=0.0, init_fn="normal",
                           bias_for_layer_norm=False, flash_attention=False)


def import_release(directory):
    """(config class, model class) of the release's files in `directory`."""
    import_folder_as_package(directory, PACKAGE)
    config_module = importlib.import_module(f"{PACKAGE}.configuration_llada")
    for name in ("networks", "networks.block_llada"):
        sys.modules.setdefault(name, importlib.util.module_from_spec(importlib.machinery.ModuleSpec(name, None)))
    sys.modules[GITHUB_CONFIG_MODULE] = config_module
    modeling_files = glob.glob(os.path.join(directory, "model*ing_llada_bitowel.py"))
    if not modeling_files:
        raise SystemExit(f"error: no modelling_llada_bitowel.py in {directory}")
    name = os.path.splitext(os.path.basename(modeling_files[0]))[0]
    modeling_module = importlib.import_module(f"{PACKAGE}.{name}")
    return config_module.LLaDAConfig, modeling_module.LLaDAUPMModelLM


def perturb(model, seed):
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in model.parameters():
            param.add_(0.05 * torch.randn(param.shape, generator=generator))


def inputs(seed):
    """Two rows of a PROMPT_LENGTH-token prompt (the first left-padded by 5) and three answer blocks of
    ATTENTION_BLOCK tokens, the last one masked."""
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(2, TINY_FIELDS["mask_token_id"], (2, PROMPT_LENGTH + 3 * ATTENTION_BLOCK), generator=generator)
    ids[:, -ATTENTION_BLOCK:] = TINY_FIELDS["mask_token_id"]
    mask = torch.ones_like(ids)
    mask[0, :5] = 0
    ids[0, :5] = TINY_FIELDS["pad_token_id"]
    return ids, mask


def release_block_bias(length):
    """The release's block attention as the additive bias its forward takes (1, 1, L, L): prompt tokens see
    the prompt, answer block j sees the prompt and answer blocks 0..j, never a later block."""
    position = torch.arange(length)
    block = torch.where(position < PROMPT_LENGTH, -1, (position - PROMPT_LENGTH) // ATTENTION_BLOCK)
    visible = block[None, :] <= block[:, None]
    return torch.zeros(length, length).masked_fill(~visible, float("-inf"))[None, None]


def report(label, release, ours, ids, mask):
    """Max |difference| of logits and confidences for each attention layout, unpadded and on the real
    tokens of the left-padded batch."""
    layouts = {"bidirectional": ({}, {}),
               "block_causal": ({"attention_bias": release_block_bias(ids.shape[1])}, {"answer_start": PROMPT_LENGTH})}
    for layout, (release_layout, our_layout) in layouts.items():
        ours.config.attention_layout, ours.config.attention_block_length = layout, ATTENTION_BLOCK
        for padding, rows in (("no padding", torch.ones_like(mask)), ("left padding", mask)):
            with torch.no_grad():
                a = release(input_ids=ids, attention_mask=rows, **release_layout)
                b = ours(ids, attention_mask=rows, **our_layout)
            real = rows.bool()
            print(f"{label} {layout:13} {padding:12}  max |logits diff| = {(a.logits - b.logits)[real].abs().max():.3e}"
                  f"   max |confidences diff| = {(a.confidences - b.ups_logits)[real].abs().max():.3e}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream-dir", required=True, help="folder with the release's two modeling files")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    ReleaseConfig, ReleaseModel = import_release(os.path.abspath(args.upstream_dir))
    ids, mask = inputs(args.seed)

    torch.manual_seed(args.seed)
    release = ReleaseModel(ReleaseConfig(**TINY_FIELDS, **RELEASE_ONLY_FIELDS), init_params=True).eval()
    perturb(release, args.seed)
    with tempfile.TemporaryDirectory() as saved:
        release.save_pretrained(saved)
        ours = RemeDiModel.from_pretrained(saved).eval()
    print(f"release -> ours: {len(release.state_dict())} tensors saved by the release's code, loaded by name")
    report("release -> ours", release, ours, ids, mask)

    torch.manual_seed(args.seed + 1)
    config = LLaDAConfig(**TINY_FIELDS)
    ours = RemeDiModel(LLaDAModelLM(config), release_stream(config)).eval()
    perturb(ours, args.seed + 1)
    with tempfile.TemporaryDirectory() as saved:
        save_release(ours.backbone, ours.ups_head, saved)
        release = ReleaseModel.from_pretrained(saved).eval()
    print("ours -> release: saved by remedi.model.release.save_release, loaded by the release's from_pretrained")
    report("ours -> release", release, ours, ids, mask)


if __name__ == "__main__":
    main()
