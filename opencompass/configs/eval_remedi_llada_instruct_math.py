# MATH (OpenCompass's 0-shot boxed-answer prompt, 5,000 test problems) for LLaDA-8B-Instruct and RemeDi.
# Settings follow upstream LLaDA's OpenCompass run (EVAL.md: gen_length = steps = block_length = 512,
# EOS/EoT ranked last; 29.6 for LLaDA-8B-Instruct). On one GPU, from the repository root:
#   opencompass opencompass/configs/eval_remedi_llada_instruct_math.py -w outputs/llada_instruct_math
# (add --max-num-workers N to split the problems over N GPUs).
from mmengine.config import read_base

with read_base():
    from opencompass.configs.datasets.math.math_0shot_gen_11c4b5 import math_datasets
    from .models.remedi_llada_instruct_8b import models as llada_instruct_models

datasets = math_datasets
models = [
    dict(model, gen_length=512, gen_steps=512, gen_blocksize=512, diff_confidence_eos_eot_inf=True)
    for model in llada_instruct_models
]
