# GSM8K as eval_remedi_llada_instruct_gsm8k.py, sampled block by block: upstream LLaDA's semi-autoregressive
# setting (EVAL.md: gen_length = steps = 256 in blocks of 8, no EOS/EoT ranking; 78.9 for
# LLaDA-8B-Instruct, against 68.8 in one block), which keeps the instruct model from filling its answer
# with EOS early.
#   opencompass opencompass/configs/eval_remedi_llada_instruct_gsm8k_block8.py -w outputs/llada_instruct_gsm8k_block8
from mmengine.config import read_base

with read_base():
    from opencompass.configs.datasets.gsm8k.gsm8k_gen import gsm8k_datasets
    from .models.remedi_llada_instruct_8b import models as llada_instruct_models

datasets = gsm8k_datasets
models = [dict(model, gen_length=256, gen_steps=256, gen_blocksize=8) for model in llada_instruct_models]
