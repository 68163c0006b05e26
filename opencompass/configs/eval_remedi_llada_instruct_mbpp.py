# MBPP (OpenCompass's 3-shot mbpp_gen_830460 prompt, 500 test problems, pass@1) for LLaDA-8B-Instruct and
# RemeDi. Settings follow upstream LLaDA's OpenCompass run (EVAL.md: gen_length = steps = block_length =
# 256, EOS/EoT ranked last; 39.6 for LLaDA-8B-Instruct). Scoring runs the generated code in local
# subprocesses. On one GPU, from the repository root:
#   opencompass opencompass/configs/eval_remedi_llada_instruct_mbpp.py -w outputs/llada_instruct_mbpp
# (add --max-num-workers N to split the problems over N GPUs).
from mmengine.config import read_base

with read_base():
    from opencompass.configs.datasets.mbpp.mbpp_gen_830460 import mbpp_datasets
    from .models.remedi_llada_instruct_8b import models as llada_instruct_models

datasets = mbpp_datasets
models = [
    dict(model, gen_length=256, gen_steps=256, gen_blocksize=256, diff_confidence_eos_eot_inf=True)
    for model in llada_instruct_models
]
