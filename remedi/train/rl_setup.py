"""What a Remask RL run is built from: the model to train, its problems and the rollout sampler.

train_mdm_rl.py wires these together; `export` (scripts/export_rl_checkpoint.py) rebuilds the model of a
saved run with the same `build_model`, and scripts/gpu_check.py times a rollout with `sample_group`.
"""

import argparse
from pathlib import Path

import torch

from remedi.data.resolve import load_pairs, split_validation
from remedi.model.llada import LLaDAModelLM
from remedi.model.loading import load_backbone, load_tokenizer
from remedi.model.tokenizer import encode_prompts, special_token_ids
from remedi.model.ups import RemeDiModel
from remedi.model.ups_registry import UPS_CONFIG_NAME, build_ups, load_ups
from remedi.sampler.config import SamplerConfig
from remedi.sampler.sampling import generate
from remedi.train import checkpoint as ckpt, training


def build_model(args):
    """(RemeDi model to train, a function building the same structure empty, for the export)."""
    model_dir = Path(args.model_path)
    if not (model_dir / "config.json").is_file():
        raise FileNotFoundError(f"--model-path {args.model_path}: no config.json there (a directory written by "
                                "train_mdm.py or a LLaDA checkpoint)")
    ups_path = Path(args.ups_path) if args.ups_path is not None else model_dir / "ups"
    if not (ups_path / UPS_CONFIG_NAME).is_file():
        raise FileNotFoundError(f"no UPS head at {ups_path}: Remask RL trains the UPS of a model that has one "
                                "(train it first with train_mdm.py --objective remask_sft, or pass --ups-path)")
    dtype = torch.bfloat16 if args.precision == "bf16-true" else torch.float32
    backbone = load_backbone(args.model_path, dtype)
    head = load_ups(ups_path).to(dtype=dtype)
    config, ups_config = backbone.config, head.config_dict()
    check_layout(args, config)

    def assemble(backbone, head):
        if args.train == "lora":
            backbone = training.add_lora(backbone, args.lora_r, args.lora_alpha, dropout=0.0)
        return RemeDiModel(backbone, head)

    def build_empty():
        return assemble(LLaDAModelLM(config), build_ups(ups_config))

    return assemble(backbone, head), build_empty


def check_layout(args, config):
    """RL keeps the backbone's attention layout: a flag that disagrees with the model's config is a mistake."""
    asked = {"--attention-layout": (args.attention_layout, config.attention_layout),
             "--attention-block-length": (args.attention_block_length, config.attention_block_length)}
    for flag, (given, own) in asked.items():
        if given is not None and given != own:
            raise ValueError(f"{flag} {given}: the model at {args.model_path} has {own}; Remask RL trains under the "
                             "backbone's own layout (train a block-causal model with train_mdm.py --attention-layout "
                             "block_causal first)")


def load_problems(args, tokenizer, context):
    """([(question, reference)] train, [...] val): prompts whose chat-formatted length + --gen-length fit."""
    columns = {}
    if Path(args.data).suffix in (".json", ".jsonl", ".parquet"):
        columns = {"prompt_column": args.prompt_column or "question", "response_column": args.response_column or "answer"}
    pairs = load_pairs(args.data, **columns)
    if args.val_data is not None:
        val_columns = {}
        if Path(args.val_data).suffix in (".json", ".jsonl", ".parquet"):
            val_columns = {"prompt_column": args.prompt_column or "question",
                           "response_column": args.response_column or "answer"}
        train, val = pairs, load_pairs(args.val_data, **val_columns)
    elif args.val_fraction > 0:
        train_idx, val_idx = split_validation(len(pairs), args.val_fraction, args.seed)
        train, val = [pairs[i] for i in train_idx.tolist()], [pairs[i] for i in val_idx.tolist()]
    else:
        train, val = pairs, []
    if args.val_limit:
        val = val[: args.val_limit]
    train = fitting(train, tokenizer, context, args.gen_length, args.prompt_template)
    val = fitting(val, tokenizer, context, args.gen_length, args.prompt_template)
    if not train:
        raise ValueError(f"no training prompt of {args.data} fits the model's context of {context} tokens "
                         f"with --gen-length {args.gen_length}")
    return train, val


def fitting(pairs, tokenizer, context, gen_length, template):
    """(prompt, reference) for the pairs with a usable reference whose templated prompt + answer fit the context."""
    kept = []
    for question, reference in pairs:
        if not question or not reference:
            continue
        prompt = template.format(question=question)
        if encode_prompts(tokenizer, [prompt])[0].shape[1] + gen_length <= context:
            kept.append((prompt, reference))
    return kept


@torch.no_grad()
def sample_group(fabric, model, tokenizer, questions, steps, args):
    """One batched stochastic generation of G completions per question: (Rollout, decoded completions).

    The G copies of a prompt are consecutive rows, which is what `group_advantages` expects.
    """
    config = rollout_config(args, steps).with_token_ids(special_token_ids(tokenizer))
    input_ids, attention_mask = encode_prompts(tokenizer, questions)
    input_ids = input_ids.repeat_interleave(args.group_size, dim=0).to(fabric.device)
    attention_mask = attention_mask.repeat_interleave(args.group_size, dim=0).to(fabric.device)
    out, rollout = generate(model, input_ids, attention_mask, config=config, return_rollout=True)
    completions = tokenizer.batch_decode(out[:, input_ids.shape[1]:], skip_special_tokens=True)
    return rollout, completions


def rollout_config(args, steps):
    """The sampler of a rollout: UPS + remask with positions drawn from the policy, at `steps` steps."""
    return SamplerConfig(steps=steps, gen_length=args.gen_length, block_length=args.block_length,
                         temperature=args.temperature, cfg_scale=args.cfg_scale, confidence_source="ups", remask=True,
                         position_temperature=args.position_temperature)


def export(run_dir, step, out_dir):
    """Write the model of checkpoint `step` of the RL run in `run_dir` to `out_dir`; returns the step it holds.

    The run's own flags (model path, UPS path, --train) are read from the checkpoint and the model rebuilt
    with them, so the saved trainable weights land on the structure that produced them."""
    path = ckpt.checkpoint_path(Path(run_dir) / "checkpoints", step)
    if not path.is_file():
        found = [p.name for p in ckpt.checkpoints(Path(run_dir) / "checkpoints")]
        raise FileNotFoundError(f"no checkpoint for step {step} in {run_dir}; there are: {found or 'none'}")
    saved = torch.load(path, map_location="cpu", weights_only=True)
    args = argparse.Namespace(**saved["args"])
    model, build_empty = build_model(args)
    weights = model.state_dict()
    missing = [name for name in saved["model"] if name not in weights]
    if missing:
        raise ValueError(f"{path} holds weights the rebuilt model lacks, e.g. {missing[:3]}")
    weights.update(saved["model"])
    ckpt.export_model(weights, build_empty, load_tokenizer(args.model_path, args.tokenizer), out_dir)
    return saved["step"]
