# BIG-Bench Hard (OpenCompass's 3-shot chain-of-thought bbh_gen_ee62e9 prompts, 27 tasks, 6,511
# problems) for LLaDA-8B-Instruct and RemeDi, with the average as `bbh` in the summary. Upstream LLaDA
# runs BBH for LLaDA-8B-Base only (EVAL.md: gen_length = steps = block_length = 256; 47.3 with
# OpenCompass); these are its settings, applied to the instruct pair, so there is no upstream number
# to compare with. On one GPU, from the repository root:
#   opencompass opencompass/configs/eval_remedi_llada_instruct_bbh.py -w outputs/llada_instruct_bbh
# (add --max-num-workers N to split the problems over N GPUs).
from mmengine.config import read_base

with read_base():
    from opencompass.configs.datasets.bbh.bbh_gen_ee62e9 import bbh_datasets
    from opencompass.configs.summarizers.groups.bbh import bbh_summary_groups
    from .models.remedi_llada_instruct_8b import models as llada_instruct_models

datasets = bbh_datasets
summarizer = dict(summary_groups=bbh_summary_groups)
models = [dict(model, gen_length=256, gen_steps=256, gen_blocksize=256) for model in llada_instruct_models]
