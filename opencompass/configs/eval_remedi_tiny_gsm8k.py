# Offline pipeline check on CPU: the built-in untrained tiny model answers five GSM8K-style questions
# (tests/fixtures/gsm8k_tiny.jsonl), then OpenCompass extracts numbers and scores accuracy. The score is
# ~0 by construction; what matters is that inference, evaluation and the summary all run. Run from any
# directory (OpenCompass writes a tmp/ folder into the current one):
#   HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 opencompass opencompass/configs/eval_remedi_tiny_gsm8k.py -w outputs/tiny
import os.path as osp

from opencompass.datasets import Gsm8kEvaluator, gsm8k_dataset_postprocess, gsm8k_postprocess
from opencompass.openicl.icl_inferencer import GenInferencer
from opencompass.openicl.icl_prompt_template import PromptTemplate
from opencompass.openicl.icl_retriever import ZeroRetriever

from remedi_opencompass import GSM8KJsonlDataset, RemeDiChatModel

gsm8k_tiny_infer_cfg = dict(
    prompt_template=dict(
        type=PromptTemplate,
        template=dict(round=[dict(role='HUMAN', prompt="Question: {question}\nLet's think step by step\nAnswer:")]),
    ),
    retriever=dict(type=ZeroRetriever),
    inferencer=dict(type=GenInferencer),
)

gsm8k_tiny_eval_cfg = dict(
    evaluator=dict(type=Gsm8kEvaluator),
    pred_postprocessor=dict(type=gsm8k_postprocess),
    dataset_postprocessor=dict(type=gsm8k_dataset_postprocess),
)

datasets = [
    dict(
        abbr='gsm8k-tiny',
        type=GSM8KJsonlDataset,
        # Resolved when the config is first read: OpenCompass then works from a copy in the work dir.
        path=osp.normpath(osp.join(osp.dirname(__file__), '../../tests/fixtures/gsm8k_tiny.jsonl')),
        reader_cfg=dict(input_columns=['question'], output_column='answer'),
        infer_cfg=gsm8k_tiny_infer_cfg,
        eval_cfg=gsm8k_tiny_eval_cfg,
    )
]

models = [
    dict(
        type=RemeDiChatModel,
        abbr='remedi-tiny-random',
        path='tiny-random',
        gen_steps=8,
        gen_length=16,
        gen_blocksize=8,
        model_kwargs=dict(device_map='cpu'),
        max_out_len=16,
        batch_size=5,
        run_cfg=dict(num_gpus=0),
    )
]

del osp  # a module in the config namespace would break OpenCompass's dump of it
