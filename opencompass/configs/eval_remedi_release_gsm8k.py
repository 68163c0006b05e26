# GSM8K (OpenCompass's 4-shot chat prompt, 1,319 test problems) for the published RemeDi-Instruct and
# RemeDi-RL (paper: 86.3 and 89.1). Sampling as the release's inference.py: blocks of 32 tokens, one token
# per step, up to 1024 tokens. Not run here (no GPU); on one GPU, from the repository root:
#   opencompass opencompass/configs/eval_remedi_release_gsm8k.py -w outputs/remedi_release_gsm8k
# (add --max-num-workers N to split the problems over N GPUs).
from mmengine.config import read_base

with read_base():
    from opencompass.configs.datasets.gsm8k.gsm8k_gen import gsm8k_datasets
    from .models.remedi_release_8b import models as release_models

datasets = gsm8k_datasets
models = [dict(model, gen_length=1024, gen_steps=1024, gen_blocksize=32) for model in release_models]
