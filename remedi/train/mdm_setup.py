"""What a train_mdm.py run is built from: its rows, the model to train (with a fresh or loaded UPS) and the loss.

train_mdm.py wires these together; scripts/gpu_check.py builds the same data, head and loss around a backbone
it makes on the device.
"""

from pathlib import Path

import torch

from remedi.data.resolve import load_packed_rows, load_sft_rows, split_validation
from remedi.model.llada import LLaDAModelLM
from remedi.model.loading import load_backbone
from remedi.model.tiny import tiny_config
from remedi.model.tokenizer import special_token_ids
from remedi.model.ups import RemeDiModel
from remedi.model.ups_registry import build_ups, load_ups
from remedi.train import training
from remedi.train.arguments import RemaskSFTArgs, from_args


def load_data(args, tokenizer):
    """(train Rows, val Rows or None) from --data and --val-data / --val-fraction."""
    def rows(spec):
        if args.mode == "pretrain":
            return training.Rows(load_packed_rows(spec, tokenizer, args.seq_len, args.text_column))
        examples = load_sft_rows(spec, tokenizer, args.seq_len, args.prompt_column, args.response_column)
        return training.Rows(examples.input_ids, examples.prompt_lengths)

    train = rows(args.data)
    if args.val_data is not None:
        return train, rows(args.val_data)
    if args.val_fraction == 0:
        return train, None
    train_idx, val_idx = split_validation(len(train), args.val_fraction, args.seed)
    return training.Rows(*train.take(train_idx)), training.Rows(*train.take(val_idx))


def fresh_ups(args, config):
    if args.ups_arch == "mlp":
        return build_ups({"arch": "mlp", "hidden_size": config.hidden_size, "ups_width": args.ups_width})
    read_layers = args.ups_read_layers or list(range(config.n_layers // 2, config.n_layers))
    return build_ups({"arch": "stream", "hidden_size": config.hidden_size, "read_layers": read_layers,
                      "stream_dim": args.ups_stream_dim, "n_heads": max(1, args.ups_stream_dim // 16)})


def build_model(fabric, args, tokenizer):
    """(model to train, a function building the same structure empty, for the export)."""
    ids = special_token_ids(tokenizer)
    if args.model_path is not None:
        dtype = torch.bfloat16 if args.precision == "bf16-true" else torch.float32
        backbone = load_backbone(args.model_path, dtype)
    else:
        dims = dict(d_model=args.d_model, n_layers=args.n_layers, n_heads=args.n_heads, n_kv_heads=args.n_kv_heads,
                    mlp_hidden_size=args.mlp_hidden_size)
        config = tiny_config(tokenizer, max_sequence_length=max(512, args.seq_len), **dims)
        with fabric.init_module(empty_init=False):  # real initialisation, also under FSDP
            backbone = LLaDAModelLM(config)
    config = backbone.config
    # The layout is a property of the trained model (saved in its config.json), not of the run: a flag turns,
    # say, a bidirectional LLaDA into a block-causal one, which the export then records.
    if args.attention_layout is not None:
        config.attention_layout = args.attention_layout
    if args.attention_block_length is not None:
        config.attention_block_length = args.attention_block_length
    if len(tokenizer) > config.padded_vocab_size:
        raise ValueError(f"the tokenizer has {len(tokenizer)} tokens, the model's embedding only "
                         f"{config.padded_vocab_size}")
    if config.mask_token_id != ids["mask_id"]:
        raise ValueError(f"the model's mask_token_id {config.mask_token_id} is not the tokenizer's {ids['mask_id']}")
    if args.seq_len > config.max_sequence_length:
        raise ValueError(f"--seq-len {args.seq_len} exceeds the model's max_sequence_length "
                         f"{config.max_sequence_length}")

    head = None
    if args.objective == "remask_sft":
        ups_path = args.ups_path
        if ups_path is None and args.model_path is not None and (Path(args.model_path) / "ups").is_dir():
            ups_path = Path(args.model_path) / "ups"
        head = load_ups(ups_path) if ups_path is not None else fresh_ups(args, config)
        head.to(dtype=next(backbone.parameters()).dtype)
    ups_config = None if head is None else head.config_dict()  # {"arch": "mlp" | "stream", sizes...}

    def assemble(backbone, head):
        if args.train == "lora":
            backbone = training.add_lora(backbone, args.lora_r, args.lora_alpha, args.lora_dropout)
        return backbone if head is None else RemeDiModel(backbone, head)

    def build_empty():
        if ups_config is None:
            return assemble(LLaDAModelLM(config), None)
        return assemble(LLaDAModelLM(config), build_ups(ups_config))

    return assemble(backbone, head), build_empty


def loss_config(args, tokenizer, model_config=None):
    """The loss settings; a block-causal `model_config` makes the loss use the block-causal training layout."""
    ids = special_token_ids(tokenizer)
    options = {}
    if getattr(model_config, "attention_layout", "bidirectional") == "block_causal":
        options["block_length"] = model_config.attention_block_length
    if args.objective == "remask_sft":
        options.update(vocab_size=len(tokenizer), remask=from_args(RemaskSFTArgs, args),
                       special_ids=tuple(sorted(set(tokenizer.all_special_ids) | set(ids.values()))))
    return training.LossConfig(objective=args.objective, mask_id=ids["mask_id"], eps=args.eps, **options)
