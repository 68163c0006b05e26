# The tiny chains model (models/remedi-tiny-chains: a 6-layer version of the arithmetic model's config and
# character tokenizer, trained on labelled chains of 3 to 6 additions and subtractions in 0..19) on 20
# held-out chains, on the CPU, offline, sampled two ways at a quarter of the full budget (80 answer tokens
# in one block, 20 steps, temperature 0): its Remask RL UPS with remasking (RemeDi) and TPS probability
# without remasking (LLaDA). Run from any directory (OpenCompass writes a tmp/ folder into the current one):
#   HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 opencompass opencompass/configs/eval_remedi_tiny_chains.py -w outputs/chains
#
# Data: tests/fixtures/chains19l_test20.jsonl is the first 20 rows of the test split written by
#   python scripts/make_arith_data.py --min-ops 3 --num-ops 6 --max-value 19 --labels --n-train 100000 \
#       --fresh-seed 1234 --out-dir data/chains19l
# (data/chains19l/test.jsonl; tests/test_arith_data.py checks the command still writes them). The model
# was trained on the train split of the same command, which no test question is in.
#
# Grading is strict: a completion is right only if it ENDS in '#### <right number>'
# (remedi_opencompass.grading). The prompt is the bare question as one user turn, as
# `python -m remedi.eval` sends it, so the two report the same accuracy on the same rows and settings.
import os.path as osp

from opencompass.openicl.icl_inferencer import GenInferencer
from opencompass.openicl.icl_prompt_template import PromptTemplate
from opencompass.openicl.icl_retriever import ZeroRetriever

from remedi_opencompass import GSM8KJsonlDataset, RemeDiChatModel, StrictFinalAnswerEvaluator

chains_infer_cfg = dict(
    prompt_template=dict(type=PromptTemplate, template=dict(round=[dict(role='HUMAN', prompt='{question}')])),
    retriever=dict(type=ZeroRetriever),
    inferencer=dict(type=GenInferencer),
)

# No postprocessors: the evaluator reads the whole completion and the whole reference solution.
chains_eval_cfg = dict(evaluator=dict(type=StrictFinalAnswerEvaluator))

datasets = [
    dict(
        abbr='chains19l-test20',
        type=GSM8KJsonlDataset,
        # Resolved when the config is first read: OpenCompass then works from a copy in the work dir.
        path=osp.normpath(osp.join(osp.dirname(__file__), '../../tests/fixtures/chains19l_test20.jsonl')),
        reader_cfg=dict(input_columns=['question'], output_column='answer'),
        infer_cfg=chains_infer_cfg,
        eval_cfg=chains_eval_cfg,
    )
]

# What both entries share: the sampler budget (20 steps for 80 tokens: 4 tokens a step), and all 20
# prompts in one sampler call on the CPU. Answers are at most 67 characters and <|eot_id|>, so 80 tokens
# hold them. The path is spelled out (the model ships beside the default one).
tiny_chains = dict(
    type=RemeDiChatModel,
    path=osp.normpath(osp.join(osp.dirname(__file__), '../../models/remedi-tiny-chains')),
    gen_length=80,
    gen_blocksize=80,
    gen_steps=20,
    temperature=0.0,
    model_kwargs=dict(device_map='cpu', torch_dtype='float32'),
    max_out_len=80,
    batch_size=20,
    run_cfg=dict(num_gpus=0),
)

models = [
    dict(tiny_chains, abbr='remedi-tiny-chains-ups-remask', confidence_source='ups', remask=True),
    dict(tiny_chains, abbr='remedi-tiny-chains-tps-prob', confidence_source='tps_prob', remask=False),
]

del osp, tiny_chains  # a module in the config namespace would break OpenCompass's dump of it
