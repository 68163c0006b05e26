# The shipped trained model (models/remedi-tiny-arith, remedi.model.loading.DEFAULT_MODEL) on 50 held-out
# arithmetic chains, on the CPU, offline, sampled two ways at a reduced budget (32 answer tokens in one
# block, 8 steps, temperature 0): UPS confidence with remasking (RemeDi) and TPS probability without
# remasking (LLaDA). Run from any directory (OpenCompass writes a tmp/ folder into the current one):
#   HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 opencompass opencompass/configs/eval_remedi_tiny_arith.py -w outputs/arith
#
# Data: tests/fixtures/arith_test50.jsonl is the test split written by
#   python scripts/make_arith_data.py --seed 0 --n-test 50 --out-dir DIR
# (DIR/test.jsonl; the first 50 rows of the default 1,000-row test split, since the splits are drawn in
# order from one seeded stream). The model was trained on the train split of the same seed, which no
# test question is in.
#
# Grading is strict: a completion is right only if it ENDS in '#### <right number>'
# (remedi_opencompass.grading). The prompt is the bare question as one user turn, as
# `python -m remedi.eval` sends it, so the two report the same accuracy on the same rows and settings
# (tests/test_opencompass_plugin.py checks this).
import os.path as osp

from opencompass.openicl.icl_inferencer import GenInferencer
from opencompass.openicl.icl_prompt_template import PromptTemplate
from opencompass.openicl.icl_retriever import ZeroRetriever

from remedi_opencompass import GSM8KJsonlDataset, RemeDiChatModel, StrictFinalAnswerEvaluator

arith_infer_cfg = dict(
    prompt_template=dict(type=PromptTemplate, template=dict(round=[dict(role='HUMAN', prompt='{question}')])),
    retriever=dict(type=ZeroRetriever),
    inferencer=dict(type=GenInferencer),
)

# No postprocessors: the evaluator reads the whole completion and the whole reference solution.
arith_eval_cfg = dict(evaluator=dict(type=StrictFinalAnswerEvaluator))

datasets = [
    dict(
        abbr='arith-test50',
        type=GSM8KJsonlDataset,
        # Resolved when the config is first read: OpenCompass then works from a copy in the work dir.
        path=osp.normpath(osp.join(osp.dirname(__file__), '../../tests/fixtures/arith_test50.jsonl')),
        reader_cfg=dict(input_columns=['question'], output_column='answer'),
        infer_cfg=arith_infer_cfg,
        eval_cfg=arith_eval_cfg,
    )
]

# What both entries share: the sampler budget, and all 50 prompts in one sampler call on the CPU. The
# path is remedi.model.loading.DEFAULT_MODEL, spelled out (the config parser keeps imported values as names).
tiny_arith = dict(
    type=RemeDiChatModel,
    path=osp.normpath(osp.join(osp.dirname(__file__), '../../models/remedi-tiny-arith')),
    gen_length=32,
    gen_blocksize=32,
    gen_steps=8,
    temperature=0.0,
    model_kwargs=dict(device_map='cpu', torch_dtype='float32'),
    max_out_len=32,
    batch_size=50,
    run_cfg=dict(num_gpus=0),
)

models = [
    dict(tiny_arith, abbr='remedi-tiny-arith-ups-remask', confidence_source='ups', remask=True),
    dict(tiny_arith, abbr='remedi-tiny-arith-tps-prob', confidence_source='tps_prob', remask=False),
]

del osp, tiny_arith  # a module in the config namespace would break OpenCompass's dump of it
