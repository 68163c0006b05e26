"""The shapes gpu_check runs at: LLaDA-8B's, and a tiny model with the same code paths for the CPU."""

from dataclasses import dataclass

# LLaDA-8B's config.json (tests/test_model.py has it field for field); its safetensors hold 16,031,162,368 bytes
# of bf16, i.e. 8,015,581,184 parameters.
LLADA_8B = dict(d_model=4096, n_heads=32, n_kv_heads=32, n_layers=32, mlp_ratio=4, mlp_hidden_size=12288,
                vocab_size=126464, embedding_size=126464, max_sequence_length=4096, rope_theta=500000.0,
                rms_norm_eps=1e-5, init_std=0.02, mask_token_id=126336, eos_token_id=126081, pad_token_id=126081,
                eot_token_id=126348)
LLADA_8B_PARAMETERS = 8_015_581_184


# The same architecture at a size where every part runs on 2 CPU cores in seconds; the vocabulary is large
# enough for the character tokenizer the trainer parts use.
TINY = dict(d_model=64, n_heads=4, n_kv_heads=4, n_layers=2, mlp_hidden_size=128, vocab_size=256,
            max_sequence_length=1024, rope_theta=500000.0, mask_token_id=250, eos_token_id=251, pad_token_id=251,
            eot_token_id=252)


@dataclass(frozen=True)
class Preset:
    model: dict  # LLaDAConfig fields
    expected_parameters: int  # of the backbone; 0: not checked
    forward_shape: tuple  # (batch, length) of the forward checks
    prompt_length: int
    gen_length: int
    block_length: int
    sampler_steps: tuple  # denoising steps of a whole answer
    sampler_batches: tuple
    rollout_steps: int  # the Remask RL rollout runs at the largest sampler batch
    seq_len: int  # Remask SFT rows
    train_steps: int  # optimizer steps per --train mode; the first one warms up and is reported apart
    rl_gen_length: int
    rl_block_length: int
    rl_steps: int


PRESETS = {
    "8b": Preset(model=LLADA_8B, expected_parameters=LLADA_8B_PARAMETERS, forward_shape=(2, 512), prompt_length=128,
                 gen_length=256, block_length=32, sampler_steps=(256, 64), sampler_batches=(1, 8), rollout_steps=64,
                 seq_len=1024, train_steps=3, rl_gen_length=256, rl_block_length=32, rl_steps=64),
    "tiny": Preset(model=TINY, expected_parameters=0, forward_shape=(2, 32), prompt_length=16, gen_length=64,
                   block_length=32, sampler_steps=(64, 16), sampler_batches=(1, 8), rollout_steps=16, seq_len=1024,
                   train_steps=3, rl_gen_length=32, rl_block_length=32, rl_steps=8),
}

# The UPS heads the model part builds on the backbone.
UPS_WIDTH = 256  # train_mdm.py's default --ups-width
STREAM_DIM, STREAM_HEADS = 64, 4  # train_mdm.py's default dual stream: width 64, width // 16 heads
