# The tiny Sudoku model (models/remedi-tiny-sudoku: the arithmetic model's 0.76M-parameter config and
# character tokenizer, trained on 9x9 puzzles with 50 givens) on 20 held-out puzzles, on the CPU, offline,
# sampled two ways at a reduced budget (96 answer tokens in one block, 24 steps, temperature 0): UPS
# confidence with remasking (RemeDi) and the TPS probability margin without remasking (the adaptive order
# Kim et al. 2025 report for Sudoku). Run from any directory (OpenCompass writes a tmp/ folder into the
# current one):
#   HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 opencompass opencompass/configs/eval_remedi_tiny_sudoku.py -w outputs/sudoku
#
# Data: tests/fixtures/sudoku_test20.jsonl is the first 20 rows of the fresh test set written by
#   python scripts/make_sudoku_data.py --out-dir data/sudoku50r --givens 50 --fresh-seed 1234 --n-train 200000
# (data/sudoku50r/test_fresh.jsonl; tests/test_sudoku.py checks that the generator still draws them). The
# model was trained on the train split of the same command, which the fresh test set excludes.
#
# Grading: a completion is right if it ENDS in '####' and a valid grid that keeps every given of the
# puzzle, whichever solution it is (remedi_opencompass.SudokuEvaluator reads the givens from the question,
# with the function `python -m remedi.eval --answer-format sudoku` uses). The prompt is the bare question
# as one user turn, as remedi.eval sends it, so the two report the same accuracy on the same rows and
# settings (tests/test_opencompass_plugin.py checks this).
import os.path as osp

from opencompass.openicl.icl_inferencer import GenInferencer
from opencompass.openicl.icl_prompt_template import PromptTemplate
from opencompass.openicl.icl_retriever import ZeroRetriever

from remedi_opencompass import GSM8KJsonlDataset, RemeDiChatModel, SudokuEvaluator

sudoku_infer_cfg = dict(
    prompt_template=dict(type=PromptTemplate, template=dict(round=[dict(role='HUMAN', prompt='{question}')])),
    retriever=dict(type=ZeroRetriever),
    inferencer=dict(type=GenInferencer),
)

# No postprocessors: the evaluator reads the whole completion, and the question for the givens.
sudoku_eval_cfg = dict(evaluator=dict(type=SudokuEvaluator))

datasets = [
    dict(
        abbr='sudoku-test20',
        type=GSM8KJsonlDataset,
        # Resolved when the config is first read: OpenCompass then works from a copy in the work dir.
        path=osp.normpath(osp.join(osp.dirname(__file__), '../../tests/fixtures/sudoku_test20.jsonl')),
        reader_cfg=dict(input_columns=['question'], output_column='answer'),
        infer_cfg=sudoku_infer_cfg,
        eval_cfg=sudoku_eval_cfg,
    )
]

# What both entries share: the sampler budget (24 steps for 96 tokens: 4 tokens a step, a quarter of the
# full budget), and all 20 prompts in one sampler call on the CPU. The answer is 94 characters and
# <|eot_id|>, so 96 tokens hold it. The path is spelled out (the model ships beside the default one).
tiny_sudoku = dict(
    type=RemeDiChatModel,
    path=osp.normpath(osp.join(osp.dirname(__file__), '../../models/remedi-tiny-sudoku')),
    gen_length=96,
    gen_blocksize=96,
    gen_steps=24,
    temperature=0.0,
    model_kwargs=dict(device_map='cpu', torch_dtype='float32'),
    max_out_len=96,
    batch_size=20,
    run_cfg=dict(num_gpus=0),
)

models = [
    dict(tiny_sudoku, abbr='remedi-tiny-sudoku-ups-remask', confidence_source='ups', remask=True),
    dict(tiny_sudoku, abbr='remedi-tiny-sudoku-tps-margin', confidence_source='tps_margin', remask=False),
]

del osp, tiny_sudoku  # a module in the config namespace would break OpenCompass's dump of it
