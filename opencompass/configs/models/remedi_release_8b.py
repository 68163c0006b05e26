# The published RemeDi checkpoints (RemeDi-Instruct after Remask SFT, RemeDi-RL after Remask RL), loaded
# into our classes without remote code: each directory carries its own dual-stream UPS, so no ups_path.
# UPS confidence with remasking, in blocks of 32 tokens with one token per step, as the release's
# inference.py samples (steps = gen_length), with its block-causal attention (the loaded default).
# Differences from that script: docs/model.md, "The published RemeDi checkpoints". Eval configs import `models`
# and set the per-benchmark lengths.
from remedi_opencompass import RemeDiChatModel

REMEDI_INSTRUCT = 'iiiutch/RemeDi-Instruct'  # a hub id (fetched into the HF cache) or a local directory
REMEDI_RL = 'iiiutch/RemeDi-RL'

models = [
    dict(
        type=RemeDiChatModel,
        abbr=abbr,
        path=path,
        confidence_source='ups',
        remask=True,
        gen_blocksize=32,
        max_out_len=1024,
        batch_size=1,
        run_cfg=dict(num_gpus=1),
    )
    for abbr, path in (('remedi-instruct', REMEDI_INSTRUCT), ('remedi-rl', REMEDI_RL))
]
