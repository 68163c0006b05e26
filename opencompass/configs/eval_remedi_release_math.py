# MATH (OpenCompass's 0-shot boxed-answer prompt, 5,000 test problems) for the published RemeDi-Instruct
# and RemeDi-RL (paper: 51.4 and 52.9 on MATH). Sampling as the release's inference.py: blocks of 32
# tokens, one token per step, up to 1024 tokens. Not run here (no GPU); on one GPU, from the repository root:
#   opencompass opencompass/configs/eval_remedi_release_math.py -w outputs/remedi_release_math
# (add --max-num-workers N to split the problems over N GPUs).
from mmengine.config import read_base

with read_base():
    from opencompass.configs.datasets.math.math_0shot_gen_11c4b5 import math_datasets
    from .models.remedi_release_8b import models as release_models

datasets = math_datasets
models = [dict(model, gen_length=1024, gen_steps=1024, gen_blocksize=32) for model in release_models]
