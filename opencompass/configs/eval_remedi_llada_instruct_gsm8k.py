# GSM8K (OpenCompass's 4-shot chat prompt, 1,319 test problems) for LLaDA-8B-Instruct and RemeDi.
# Settings follow upstream LLaDA's OpenCompass run (EVAL.md: gen_length = steps = block_length = 512,
# EOS/EoT ranked last; 68.8 for LLaDA-8B-Instruct). On one GPU, from the repository root:
#   opencompass opencompass/configs/eval_remedi_llada_instruct_gsm8k.py -w outputs/llada_instruct_gsm8k
# (add --max-num-workers N to split the problems over N GPUs). OpenCompass downloads its GSM8K copy on
# the first run; for a local file instead, use remedi_opencompass.GSM8KJsonlDataset as in
# eval_remedi_tiny_gsm8k.py.
from mmengine.config import read_base

with read_base():
    from opencompass.configs.datasets.gsm8k.gsm8k_gen import gsm8k_datasets
    from .models.remedi_llada_instruct_8b import models as llada_instruct_models

datasets = gsm8k_datasets
models = [
    dict(model, gen_length=512, gen_steps=512, gen_blocksize=512, diff_confidence_eos_eot_inf=True)
    for model in llada_instruct_models
]
