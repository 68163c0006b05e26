# HumanEval (OpenCompass's humaneval_gen_8e312c prompt, 164 problems, pass@1) for LLaDA-8B-Instruct and RemeDi.
# Settings follow upstream LLaDA's OpenCompass run (EVAL.md: gen_length = steps = block_length = 512,
# EOS logits set to -inf; 47.0 for LLaDA-8B-Instruct). Scoring runs the generated code through
# OpenCompass's fork of human-eval (pip install git+https://github.com/open-compass/human-eval).
# On one GPU, from the repository root:
#   opencompass opencompass/configs/eval_remedi_llada_instruct_humaneval.py -w outputs/llada_instruct_humaneval
# (add --max-num-workers N to split the problems over N GPUs).
from mmengine.config import read_base

with read_base():
    from opencompass.configs.datasets.humaneval.humaneval_gen_8e312c import humaneval_datasets
    from .models.remedi_llada_instruct_8b import models as llada_instruct_models

datasets = humaneval_datasets
models = [
    dict(model, gen_length=512, gen_steps=512, gen_blocksize=512, diff_logits_eos_inf=True)
    for model in llada_instruct_models
]
