# MATH as eval_remedi_llada_instruct_math.py, sampled block by block: upstream LLaDA's semi-autoregressive
# setting (EVAL.md: gen_length = steps = 512 in blocks of 64, no EOS/EoT ranking; 42.7 for
# LLaDA-8B-Instruct, against 29.6 in one block).
#   opencompass opencompass/configs/eval_remedi_llada_instruct_math_block64.py -w outputs/llada_instruct_math_block64
from mmengine.config import read_base

with read_base():
    from opencompass.configs.datasets.math.math_0shot_gen_11c4b5 import math_datasets
    from .models.remedi_llada_instruct_8b import models as llada_instruct_models

datasets = math_datasets
models = [dict(model, gen_length=512, gen_steps=512, gen_blocksize=64) for model in llada_instruct_models]
