"""Check that our log-likelihood estimator returns LLaDA's numbers on the same model under the same seed.

LLaDA's `get_log_likelihood.py` (and, optionally, `eval_llada.py` with the `generate.py` it imports) are not
shipped here; download them from github.com/ML-GSAI/LLaDA into a folder and point --upstream-dir at it:

    python tools/compare_likelihood_with_upstream.py --upstream-dir /path/to/folder

On a small random stand-in model the script prints, for several answer lengths, mini-batch sizes and CFG
scales, upstream's estimate and ours after the same `torch.manual_seed`, and their difference. With
`eval_llada.py` in the folder (and lm-eval installed) it also compares its harness's per-request estimate
and greedy check with `remedi.eval.likelihood.log_likelihoods` and `greedy_matches`.
"""

import argparse
import importlib
import os
import sys

import torch

from folder_package import import_folder_as_package
from remedi import LLaDAConfig, LLaDAModelLM
from remedi.eval.likelihood import get_log_likelihood, greedy_matches, log_likelihoods
from remedi.sampler.sampling import generate

PACKAGE = "upstream_llada_likelihood"
MASK_ID = 99
# (answer length, prompt length, mc_num, batch_size, cfg_scale)
CASES = [(5, 7, 32, 8, 0.0), (9, 3, 64, 16, 0.5), (3, 4, 8, 2, 0.0), (12, 10, 48, 16, 1.0), (1, 6, 1, 1, 0.0)]


def stand_in_model(seed):
    torch.manual_seed(seed)
    config = LLaDAConfig(d_model=64, n_heads=4, n_kv_heads=4, n_layers=2, mlp_hidden_size=160, vocab_size=100,
                         max_sequence_length=128, mask_token_id=MASK_ID, eos_token_id=1, pad_token_id=1)
    return LLaDAModelLM(config).eval()


def compare_get_log_likelihood(upstream, model, pairs):
    print("get_log_likelihood.py: upstream vs ours after the same torch.manual_seed")
    for (prompt, answer), (_, _, mc_num, batch_size, cfg) in zip(pairs, CASES):
        for seed in range(3):
            torch.manual_seed(seed)
            theirs = upstream.get_log_likelihood(model, prompt, answer, mc_num, batch_size, cfg, MASK_ID)
            torch.manual_seed(seed)
            ours = get_log_likelihood(model, prompt, answer, mc_num, batch_size, cfg, MASK_ID)
            print(f"  L={answer.numel():2d} mc_num={mc_num:3d} batch={batch_size:2d} cfg={cfg} seed={seed}: "
                  f"upstream {theirs:.6f}  ours {ours:.6f}  |diff| {abs(theirs - ours):.2e}")


def compare_harness(module, model, pairs):
    """Upstream's harness scores one request after another from the global random state; ours seeds each one."""
    print("eval_llada.py LLaDAEvalHarness: get_loglikelihood and suffix_greedy_prediction vs ours")
    harness = object.__new__(module.LLaDAEvalHarness)  # skip __init__: it loads a checkpoint
    # lm-eval >= 0.4.9 keeps the device behind a read-only property; older ones read the attribute.
    harness.__dict__.update(model=model, _device=torch.device("cpu"), mask_id=MASK_ID, sampling_eps=0.0,
                            is_check_greedy=True)
    if not isinstance(type(harness).__dict__.get("device"), property):
        harness.__dict__["device"] = torch.device("cpu")
    for (prompt, answer), (_, _, mc_num, batch_size, cfg) in zip(pairs, CASES):
        harness.mc_num, harness.batch_size, harness.cfg = mc_num, batch_size, cfg
        torch.manual_seed(7)
        theirs = harness.get_loglikelihood(prompt, answer)
        ours = log_likelihoods(model, [(prompt, answer)], mc_num, batch_size, cfg, MASK_ID, seed=7)[0]
        # the given answer (a random one: not greedy) and the model's own greedy answer of the same length
        greedy_answer = generate(model, prompt[None], steps=answer.numel(), gen_length=answer.numel(),
                                 block_length=answer.numel(), cfg_scale=cfg, mask_id=MASK_ID)[0, prompt.numel():]
        checks = [(bool(harness.suffix_greedy_prediction(prompt, a)), greedy_matches(model, [(prompt, a)], cfg,
                                                                                    MASK_ID)[0])
                  for a in (answer, greedy_answer)]
        print(f"  L={answer.numel():2d} cfg={cfg}: upstream {theirs:.6f}  ours {ours:.6f}  |diff| "
              f"{abs(theirs - ours):.2e}; greedy check (upstream, ours): random answer {checks[0]}, "
              f"greedy answer {checks[1]}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream-dir", required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    directory = os.path.abspath(args.upstream_dir)
    import_folder_as_package(directory, PACKAGE)
    model = stand_in_model(args.seed)
    generator = torch.Generator().manual_seed(args.seed)
    pairs = [(torch.randint(2, MASK_ID, (prompt_length,), generator=generator),
              torch.randint(2, MASK_ID, (length,), generator=generator)) for length, prompt_length, *_ in CASES]
    compare_get_log_likelihood(importlib.import_module(f"{PACKAGE}.get_log_likelihood"), model, pairs)
    if not os.path.isfile(os.path.join(directory, "eval_llada.py")):
        print("no eval_llada.py in the folder: harness comparison skipped")
        return
    sys.path.insert(0, directory)  # eval_llada.py imports upstream's generate.py by its plain name
    try:
        harness_module = importlib.import_module(f"{PACKAGE}.eval_llada")
    except ImportError as error:
        print(f"eval_llada.py cannot be imported ({error}): harness comparison skipped")
        return
    compare_harness(harness_module, model, pairs)


if __name__ == "__main__":
    main()
