#!/usr/bin/env bash
# Regenerate the shipped model and every number and figure of the report on a CPU:
# data, training, evaluation, Remask RL, ablations, tables.   bash paper/reproduce.sh   (about three hours on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 OMP_NUM_THREADS=${THREADS:-2}
TRAIN="python SMDM/pretrain/train_mdm.py --mode sft --data data/arith/train.jsonl --val-data data/arith/val.jsonl
       --prompt-column question --response-column answer --seq-len 81 --micro-batch-size 64 --seed 0 --val-batches 4"

# 1. The task: 4-operation chains of one-digit numbers, GSM8K schema, seeded splits + a fresh test set.
python scripts/make_arith_data.py --out-dir data/arith --fresh-seed 1234

# 2. Masked-diffusion training of the backbone (the TPS).
$TRAIN --objective mdm --max-steps 1600 --lr 2e-3 --weight-decay 0.01 --warmup-steps 100 \
       --val-every 400 --save-every 400 --out-dir out/arith-mdm

# 3. Remask SFT of an MLP UPS head on the frozen backbone (models/remedi-tiny-arith/ups-sft).
$TRAIN --objective remask_sft --train ups --ups-arch mlp --model-path out/arith-mdm \
       --r-incorrect 0.3 --ups-label-smoothing 0.1 --replacement batch --max-steps 600 --lr 3e-3 \
       --warmup-steps 50 --val-every 200 --save-every 200 --out-dir out/arith-ups-mlp-r03

# 3b. The same Remask SFT with the dual-stream UPS, for the side-by-side comparison.
$TRAIN --objective remask_sft --train ups --ups-arch stream --model-path out/arith-mdm \
       --r-incorrect 0.3 --ups-label-smoothing 0.1 --replacement batch --max-steps 600 --lr 3e-3 \
       --warmup-steps 50 --val-every 200 --save-every 200 --out-dir out/arith-ups-stream-r03

# 4. Evaluation on 500 held-out problems (and 500 of the fresh test set): 32 answer tokens in 32/8/4 steps,
#    graded strictly (the answer must end in '#### <number>'; the last-number fallback is reported beside it).
EVAL="python -m remedi.eval --model out/arith-ups-mlp-r03 --limit 500 --gen-length 32 --batch-size 100 --seed 0
      --answer-format strict"
$EVAL --data data/arith/test.jsonl --steps 1/1 1/4 1/8 --out runs/eval-arith
python -m remedi.eval --model out/arith-ups-stream-r03 --data data/arith/test.jsonl --limit 500 --gen-length 32 \
  --steps 1/1 1/4 --batch-size 100 --seed 0 --answer-format strict --out runs/eval-arith-stream
$EVAL --data data/arith/test.jsonl --steps 1 --sources tps_prob --remask-modes off --no-detection --out runs/eval-arith-onestep
$EVAL --data data/arith/test_fresh.jsonl --steps 1/1 1/4 --sources tps_prob ups --no-detection --out runs/eval-arith-fresh

# 5. Remask RL of the MLP UPS head on the frozen backbone (the shipped models/remedi-tiny-arith/ups; the SFT
#    head above is models/remedi-tiny-arith/ups-sft). Validation picks the checkpoint; the last was best.
python scripts/make_arith_data.py --num-ops 3 --n-train 0 --n-val 0 --n-test 1000 --out-dir data/arith3
RL="python SMDM/pretrain/train_mdm_rl.py --data data/arith/train.jsonl --val-data data/arith/val.jsonl --val-limit 500
    --val-steps 4 8 --reward strict --steps 4 --temperature 0 --position-temperature 1.0 --group-size 8
    --prompts-per-step 16 --warmup-steps 5 --ppo-epochs 2 --val-every 25 --accelerator cpu"
$RL --model-path out/arith-ups-mlp-r03 --lr 1e-3 --max-steps 300 --save-every 50 --out-dir out/arith-rl
# 5b. The position-only control: the same RL for one learned logit per position (blind to the tokens).
python -c "from remedi.model.ups_heads import UPSPosition; from remedi.model.ups_registry import save_ups; save_ups(UPSPosition(128, 512), 'out/position-ups-init')"
$RL --model-path out/arith-ups-mlp-r03 --ups-path out/position-ups-init --lr 3e-2 --max-steps 150 --save-every 25 \
    --out-dir out/arith-rl-position
# 5c. Evaluation on 1000 test and 1000 fresh problems, and 1000 three-operation chains (out of distribution).
RLEVAL="python -m remedi.eval --gen-length 32 --batch-size 100 --seed 0 --answer-format strict --no-detection --limit 1000"
for split in test test_fresh; do
  $RLEVAL --model out/arith-rl --data data/arith/$split.jsonl --sources random tps_prob ups --remask-modes off on \
    --steps 1/1 1/2 1/4 1/8 --out runs/rl-$split
  $RLEVAL --model out/arith-rl --data data/arith/$split.jsonl --sources random tps_prob --remask-modes off on \
    --steps 8 4 --block-lengths 16 8 --out runs/rl-$split-heuristic-blocks
  $RLEVAL --model out/arith-rl --ups out/arith-ups-mlp-r03/ups --data data/arith/$split.jsonl --sources ups \
    --remask-modes off on --steps 1/1 1/2 1/4 1/8 --out runs/rl-$split-sft
  python scripts/policy_report.py --policy runs/rl-$split:"RL policy" --policy-block 32 \
    --runs runs/rl-$split-heuristic-blocks runs/rl-$split-sft:"SFT UPS" --out runs/rl-$split-report.md
done
$RLEVAL --model out/arith-rl-position --data data/arith/test.jsonl --sources ups --remask-modes on \
  --steps 1/1 1/2 1/4 1/8 --out runs/rl-test-position
python scripts/policy_report.py --policy runs/rl-test:"RL policy" --policy-block 32 --runs runs/rl-test-heuristic-blocks \
  runs/rl-test-sft:"SFT UPS" runs/rl-test-position:"position-only" --out runs/rl-test-report.md \
  --json runs/rl-test-report.json
# 5d. After the ranking fix (positions ranked by order-keeping scores, not float32 probabilities that tie at 1.0):
#     how many answers the fix changes, the rows it changes (tps_prob + remask) again, and LLaDA's
#     semi-autoregressive blocks at the full budgets too. The shipped model's ups/ is out/arith-rl.
python tools/ranking_ties.py --model models/remedi-tiny-arith --data data/arith/test.jsonl --limit 200 --gen-length 32 --steps 8
$RLEVAL --model out/arith-rl --data data/arith/test.jsonl --sources tps_prob --remask-modes on \
  --steps 1/1 1/2 1/4 1/8 --out runs/rl-test-tps-remask
$RLEVAL --model out/arith-rl --data data/arith/test.jsonl --sources ups --remask-modes on --steps 32 16 \
  --out runs/rl-test-full-budgets
$RLEVAL --model out/arith-rl --data data/arith/test.jsonl --sources ups --remask-modes on --steps 8 4 \
  --out runs/rl-test-low-budgets
$RLEVAL --model out/arith-rl --data data/arith/test.jsonl --sources tps_prob --remask-modes off on --steps 32 16 \
  --block-lengths 16 8 --out runs/rl-test-heuristic-blocks-full-budgets
python scripts/policy_report.py --policy runs/rl-test-full-budgets:"RL policy" --policy-block 32 \
  --runs runs/rl-test-heuristic-blocks-full-budgets runs/rl-test-tps-remask --out runs/rl-test-full-budgets-report.md \
  --latex paper/generated/policy_full_budgets.tex --latex-label tab:policy-full-budgets \
  --latex-caption "1000 test problems after the ranking fix: the RL policy at 32 and 16 steps against \texttt{tps\_prob} with and without remasking in LLaDA's blocks of 32, 16 and 8, and \texttt{tps\_prob} with remasking in one block at every budget (the rows the fix changes); accuracy (\%) and the policy minus it, paired, 95\% bootstrap intervals"
# 5e. The same after the ranking fix at 8 and 4 steps: every heuristic in LLaDA's blocks of 32, 16 and 8, and of 4
#     at 8 steps (one step per block: a left-to-right order).
$RLEVAL --model out/arith-rl --data data/arith/test.jsonl --sources ups --remask-modes on --steps 8 4 \
  --out runs/rl-test-low-budgets
$RLEVAL --model out/arith-rl --data data/arith/test.jsonl --sources random tps_prob --remask-modes off on --steps 8 4 \
  --block-lengths 32 16 8 --out runs/rl-test-heuristic-blocks-low-budgets
$RLEVAL --model out/arith-rl --data data/arith/test.jsonl --sources random tps_prob --remask-modes off on --steps 8 \
  --block-lengths 4 --out runs/rl-test-heuristic-block4-8steps
python scripts/policy_report.py --policy runs/rl-test-low-budgets:"RL policy" --policy-block 32 \
  --runs runs/rl-test-heuristic-blocks-low-budgets runs/rl-test-heuristic-block4-8steps \
  --out runs/rl-test-low-budgets-report.md \
  --latex paper/generated/policy_low_budgets.tex --latex-label tab:policy-low-budgets \
  --latex-caption "1000 test problems after the ranking fix: the RL policy at 8 and 4 steps against random and \texttt{tps\_prob}, with and without remasking, in LLaDA's blocks of 32, 16 and 8, and of 4 at 8 steps (one step per block: left to right, four tokens a step); accuracy (\%) and the policy minus it, paired, 95\% bootstrap intervals"
# 5f. The position-only control, started from the best fixed positional order (left to right: -arange logits, which
#     with one step per block is LLaDA's semi-autoregressive order; blocks of 4 at 8 steps were the best heuristic
#     there) and trained by the same RL (validation 200 problems every 10 steps; steps 30-50 tie, the last ships
#     as models/remedi-tiny-arith/ups-position).
python -c "import torch; from remedi.model.ups_heads import UPSPosition; from remedi.model.ups_registry import save_ups; h = UPSPosition(128, 512); h.logits.data = -torch.arange(512.0); save_ups(h, 'out/arith-left-to-right')"
$RL --model-path out/arith-rl --ups-path out/arith-left-to-right --val-limit 200 --val-every 10 --prompts-per-step 16 \
    --lr 3e-2 --max-steps 50 --save-every 10 --out-dir out/arith-rl-position-l2r
$RLEVAL --model out/arith-rl-position-l2r --data data/arith/test.jsonl --sources ups --remask-modes on --steps 8 4 \
  --out runs/rl-test-position-l2r
python scripts/policy_report.py --policy runs/rl-test-low-budgets:"RL policy" --policy-block 32 \
  --runs runs/rl-test-heuristic-blocks-low-budgets runs/rl-test-heuristic-block4-8steps \
  runs/rl-test-position-l2r:"position-only control (from left to right)" --out runs/rl-test-position-l2r-report.md
$RLEVAL --model out/arith-rl --data data/arith3/test.jsonl --sources random tps_prob ups --remask-modes off on \
  --steps 1/1 1/2 1/4 1/8 --out runs/rl-ood3
python scripts/policy_report.py --policy runs/rl-ood3:"RL policy" --policy-block 32 --out runs/rl-ood3-report.md

# 6. Ablations (Remask SFT knobs, sampler settings) and the tables and figures of paper/main.tex.
python scripts/ablations.py --backbone out/arith-mdm --default-ups out/arith-ups-mlp-r03 --steps 300 --limit 300
python paper/make_report.py --eval runs/eval-arith:"held-out test split" runs/eval-arith-fresh:"fresh test set" \
  runs/eval-arith-onestep:"one-step decoding" runs/eval-arith-stream:"dual-stream UPS (same recipe)" \
  --rl out/arith-rl:"UPS head" out/arith-rl-position:"position-only control" --policy-report runs/rl-test-report.json

# 7. Tasks where the right order depends on the content: Sudoku (7, 7b) and labelled chains (7c);
#    see paper/content_order.tex for what ran and what did not.
#    Variable-layout chains: 3-6 operations of one- or two-digit numbers, results in 0..99 (answers up to 61 tokens).
python scripts/make_arith_data.py --min-ops 3 --num-ops 6 --max-value 99 --fresh-seed 1234 --out-dir data/chains
python SMDM/pretrain/train_mdm.py --mode sft --data data/chains/train.jsonl --val-data data/chains/val.jsonl \
  --prompt-column question --response-column answer --seq-len 128 --micro-batch-size 64 --seed 0 --val-batches 4 \
  --objective mdm --max-steps 800 --lr 2e-3 --weight-decay 0.01 --warmup-steps 100 --val-every 100 --save-every 100 \
  --out-dir out/chains-mdm
python -m remedi.eval --model out/chains-mdm --data data/chains/val.jsonl --limit 100 --gen-length 64 --batch-size 100 \
  --seed 0 --answer-format strict --no-detection --sources tps_prob random --remask-modes off --steps 1/1 1/4 \
  --out runs/chains800-val
#    The 6-layer backbone (interrupted once: the last 2000 steps ran with --resume from the step-4000 checkpoint).
python SMDM/pretrain/train_mdm.py --mode sft --data data/chains/train.jsonl --val-data data/chains/val.jsonl \
  --prompt-column question --response-column answer --seq-len 128 --micro-batch-size 64 --seed 0 --val-batches 4 \
  --n-layers 6 --objective mdm --max-steps 6000 --lr 2e-3 --weight-decay 0.01 --warmup-steps 200 --val-every 500 \
  --save-every 500 --out-dir out/chains-mdm-l6
python -m remedi.eval --model out/chains-mdm-l6 --data data/chains/val.jsonl --limit 100 --gen-length 64 --batch-size 100 \
  --seed 0 --answer-format strict --no-detection --sources tps_prob --remask-modes off --steps 1/1 --block-lengths 64 1 \
  --out runs/chains-l6-val   # one token per step: 2 of 100 in one block, 1 of 100 left to right (blocks of 1)
#    Sudoku: 50 givens (solutions not necessarily unique), answer '#### <row> ... <row>' (rows one space apart,
#    the question's row stride) in 96 tokens. Backbone, Remask SFT head, Remask RL (graded sudoku_units reward)
#    and the position-only control; orders compared on the 1000 test puzzles by scripts/sudoku_report.py.
python scripts/sudoku_difficulty.py --givens 40 45 50 --puzzles 200   # the solver measurements behind 50 givens
python scripts/make_sudoku_data.py --grids pattern --givens 50 --n-train 50000 --fresh-seed 1234 --out-dir data/sudoku50
SUD="python SMDM/pretrain/train_mdm.py --mode sft --data data/sudoku50/train.jsonl --val-data data/sudoku50/val.jsonl
     --prompt-column question --response-column answer --seq-len 216 --micro-batch-size 32 --seed 0 --val-batches 4"
$SUD --objective mdm --max-steps 4000 --lr 2e-3 --weight-decay 0.01 --warmup-steps 100 --val-every 250 --save-every 500 \
  --out-dir out/sudoku-mdm
$SUD --objective remask_sft --train ups --ups-arch mlp --model-path out/sudoku-mdm --r-incorrect 0.3 \
  --ups-label-smoothing 0.1 --replacement batch --max-steps 600 --lr 3e-3 --warmup-steps 50 --val-every 200 \
  --save-every 200 --out-dir out/sudoku-ups
SUDRL="python SMDM/pretrain/train_mdm_rl.py --model-path out/sudoku-ups --data data/sudoku50/train.jsonl
       --val-data data/sudoku50/val.jsonl --val-limit 100 --val-steps 24 12 --reward sudoku_units --steps 24 12
       --gen-length 96 --temperature 0 --position-temperature 1.0 --group-size 8 --prompts-per-step 8 --warmup-steps 5
       --ppo-epochs 2 --val-every 20 --save-every 20 --max-steps 80 --accelerator cpu"
$SUDRL --lr 1e-3 --out-dir out/sudoku-rl
python -c "from remedi.model.ups_heads import UPSPosition; from remedi.model.ups_registry import save_ups; save_ups(UPSPosition(128, 512), 'out/sudoku-position-init')"
$SUDRL --ups-path out/sudoku-position-init --lr 3e-2 --max-steps 60 --out-dir out/sudoku-rl-position
SUDEV="python -m remedi.eval --data data/sudoku50/test.jsonl --limit 1000 --gen-length 96 --batch-size 100 --seed 0
       --answer-format sudoku --no-detection"
$SUDEV --model out/sudoku-mdm --sources random tps_prob tps_margin tps_entropy --remask-modes off --steps 24 12 \
  --out runs/sudoku-test-heuristics
$SUDEV --model out/sudoku-mdm --sources random tps_margin --remask-modes off --steps 96 --out runs/sudoku-test-full
$SUDEV --model out/sudoku-mdm --sources tps_margin --remask-modes on --steps 24 12 --out runs/sudoku-test-margin-remask
$SUDEV --model out/sudoku-ups --sources ups --remask-modes off on --steps 24 12 --out runs/sudoku-test-sft
$SUDEV --model out/sudoku-rl --sources ups --remask-modes off on --steps 24 12 --out runs/sudoku-test-rl
$SUDEV --model out/sudoku-rl-position --sources ups --remask-modes on --steps 24 12 --out runs/sudoku-test-position
# 7b. Remask RL of a UPS that also reads the TPS's confidence (remedi.model.ups_heads.UPSTPSHead), started at the
#     tps_margin order, at two learning rates. Every saved checkpoint is scored on the 500 validation puzzles
#     (ups + remask, 24 and 12 steps); the highest mean complete-unit share is the one tested (and shipped as ups/).
python -c "from remedi.model.ups_heads import UPSTPSHead; from remedi.model.ups_registry import save_ups; save_ups(UPSTPSHead(128, 64, start_feature='margin', start_scale=10.0), 'out/sudoku-margin-init')"
$SUDRL --ups-path out/sudoku-margin-init --lr 1e-3 --out-dir out/sudoku-rl-margin-lr1e-3
$SUDRL --ups-path out/sudoku-margin-init --lr 1e-2 --out-dir out/sudoku-rl-margin-lr1e-2
SUDVAL="python -m remedi.eval --data data/sudoku50/val.jsonl --limit 500 --gen-length 96 --batch-size 100 --seed 0
        --answer-format sudoku --no-detection --remask-modes on --steps 24 12"
$SUDVAL --model out/sudoku-mdm --sources tps_margin --out runs/sudoku-val500-margin
VALRUNS="runs/sudoku-val500-margin"
for lr in 1e-3 1e-2; do
  for step in 20 40 60 80; do
    python scripts/export_rl_checkpoint.py out/sudoku-rl-margin-lr$lr --step $step --out out/sudoku-rl-margin-lr$lr-s$step
    $SUDVAL --model out/sudoku-rl-margin-lr$lr-s$step --sources ups --out runs/sudoku-val500-lr$lr-s$step
    VALRUNS="$VALRUNS runs/sudoku-val500-lr$lr-s$step:lr$lr-s$step"
  done
done
python scripts/sudoku_report.py --data data/sudoku50/val.jsonl --baseline "tps_margin + remask" --runs $VALRUNS \
  --out runs/sudoku-val500-report.md
#     The same RL started from tps_entropy (stopped after 40 of 80 steps; below the chosen head on validation).
python -c "from remedi.model.ups_heads import UPSTPSHead; from remedi.model.ups_registry import save_ups; save_ups(UPSTPSHead(128, 64, start_feature='neg_entropy', start_scale=10.0), 'out/sudoku-entropy-init')"
$SUDRL --ups-path out/sudoku-entropy-init --lr 1e-2 --out-dir out/sudoku-rl-entropy-lr1e-2
for step in 20 40; do
  python scripts/export_rl_checkpoint.py out/sudoku-rl-entropy-lr1e-2 --step $step --out out/sudoku-rl-entropy-lr1e-2-s$step
  $SUDVAL --model out/sudoku-rl-entropy-lr1e-2-s$step --sources ups --out runs/sudoku-val500-entropy-lr1e-2-s$step
done
$SUDEV --model out/sudoku-mdm --sources tps_prob tps_entropy --remask-modes on --steps 24 12 \
  --out runs/sudoku-test-heuristics-remask
$SUDEV --model out/sudoku-mdm --sources random --remask-modes on --steps 24 12 --out runs/sudoku-test-random-remask
$SUDEV --model out/sudoku-rl-margin-lr1e-2-s80 --sources ups --remask-modes on --steps 24 12 --out runs/sudoku-test-rl-tps
$SUDEV --model out/sudoku-rl-margin-lr1e-2-s80 --sources ups --remask-modes off --steps 24 12 \
  --out runs/sudoku-test-rl-tps-noremask
python scripts/sudoku_report.py --data data/sudoku50/test.jsonl --runs runs/sudoku-test-full runs/sudoku-test-heuristics \
  runs/sudoku-test-margin-remask runs/sudoku-test-heuristics-remask runs/sudoku-test-random-remask \
  runs/sudoku-test-sft:"SFT UPS" runs/sudoku-test-rl:"RL UPS" runs/sudoku-test-position:"position-only" \
  runs/sudoku-test-rl-tps:"RL UPS (TPS-reading)" runs/sudoku-test-rl-tps-noremask:"RL UPS (TPS-reading)" \
  --out runs/sudoku-report.md --latex paper/generated/sudoku_orders.tex
$SUDVAL --model out/sudoku-mdm --sources tps_prob tps_entropy --out runs/sudoku-val500-heuristics
python scripts/sudoku_report.py --data data/sudoku50/val.jsonl --baseline "tps_margin + remask" \
  --runs runs/sudoku-val500-margin runs/sudoku-val500-heuristics   # the best heuristic on validation: tps_entropy + remask
python scripts/sudoku_report.py --data data/sudoku50/test.jsonl --baseline "tps_entropy + remask" \
  --runs runs/sudoku-test-margin-remask runs/sudoku-test-heuristics-remask runs/sudoku-test-rl-tps:"RL UPS (TPS-reading)" \
  --out runs/sudoku-rl-tps-report.md --latex paper/generated/sudoku_rl_tps.tex --latex-label tab:sudoku-rl-tps
python scripts/sudoku_report.py --data data/sudoku50/test.jsonl --baseline "tps_margin + remask" \
  --runs runs/sudoku-test-margin-remask runs/sudoku-test-rl-tps:"RL UPS (TPS-reading)" \
  --out runs/sudoku-rl-tps-vs-margin-report.md   # the RL head against the order it started from, on the test puzzles

# 7c. Labelled chains in 0..19 (the 0..99 chains above were not learned: scripts/chains_probe.py finds 2.4% operand
#     lookup and 6.4% line arithmetic in out/chains-mdm-l6). Backbone, its probe curve, Remask SFT UPS, the
#     heuristics on 500 validation problems (the best with remasking starts the TPS-reading RL head), Remask RL of
#     that head and of the position-only control, each RL checkpoint scored on validation, then the test grid.
python scripts/chains_probe.py --model out/chains-mdm-l6 --data data/chains/val.jsonl --gen-length 64
python scripts/make_arith_data.py --min-ops 3 --num-ops 6 --max-value 19 --labels --n-train 100000 --fresh-seed 1234 \
  --out-dir data/chains19l
CH="python SMDM/pretrain/train_mdm.py --mode sft --data data/chains19l/train.jsonl --val-data data/chains19l/val.jsonl
    --prompt-column question --response-column answer --seq-len 144 --micro-batch-size 64 --seed 0 --val-batches 4"
$CH --n-layers 6 --objective mdm --max-steps 5000 --lr 2e-3 --weight-decay 0.01 --warmup-steps 200 --val-every 250 \
  --save-every 250 --out-dir out/chains19l-mdm
for step in 500 1000 1500 2000 2500 3000 4000; do
  python scripts/chains_probe.py --model out/chains19l-mdm --data data/chains19l/val.jsonl --gen-length 80 \
    --checkpoint out/chains19l-mdm/checkpoints/step-$(printf %08d $step).ckpt
done
python scripts/chains_probe.py --model out/chains19l-mdm --data data/chains19l/val.jsonl --gen-length 80
$CH --objective remask_sft --train ups --ups-arch mlp --model-path out/chains19l-mdm --r-incorrect 0.3 \
  --ups-label-smoothing 0.1 --replacement batch --max-steps 600 --lr 3e-3 --warmup-steps 50 --val-every 200 \
  --save-every 200 --out-dir out/chains19l-ups
CHVAL="python -m remedi.eval --data data/chains19l/val.jsonl --limit 500 --gen-length 80 --batch-size 100 --seed 0
       --answer-format strict --no-detection --steps 1/4 1/8"
$CHVAL --model out/chains19l-mdm --sources random tps_prob tps_margin tps_entropy --remask-modes off on \
  --out runs/chains19l-val500-heuristics   # best: tps_prob + remask
python -c "from remedi.model.ups_heads import UPSTPSHead; from remedi.model.ups_registry import save_ups; save_ups(UPSTPSHead(128, 64, start_feature='prob', start_scale=10.0), 'out/chains19l-prob-init')"
python -c "from remedi.model.ups_heads import UPSPosition; from remedi.model.ups_registry import save_ups; save_ups(UPSPosition(128, 512), 'out/chains19l-position-init')"
CHRL="python SMDM/pretrain/train_mdm_rl.py --model-path out/chains19l-ups --data data/chains19l/train.jsonl
      --val-data data/chains19l/val.jsonl --val-limit 100 --val-steps 20 10 --reward strict --steps 20 10 --gen-length 80
      --temperature 0 --position-temperature 1.0 --group-size 8 --prompts-per-step 8 --warmup-steps 5 --ppo-epochs 2
      --val-every 25 --save-every 25 --max-steps 150 --accelerator cpu"
$CHRL --ups-path out/chains19l-prob-init --lr 1e-2 --out-dir out/chains19l-rl-tps   # stopped after 100 updates (time)
$CHRL --ups-path out/chains19l-position-init --lr 3e-2 --out-dir out/chains19l-rl-position-lr3e-2   # stopped after 50
$CHRL --ups-path out/chains19l-position-init --lr 1e-2 --max-steps 75 --out-dir out/chains19l-rl-position
for run in "tps 25 50 75 100" "position 25 50 75"; do
  set -- $run; name=$1; shift
  for step in "$@"; do
    python scripts/export_rl_checkpoint.py out/chains19l-rl-$name --step $step --out out/chains19l-rl-$name-s$step
    $CHVAL --model out/chains19l-rl-$name-s$step --sources ups --remask-modes on --out runs/chains19l-val500-$name-s$step
  done
done   # highest mean of the two budgets: tps step 50 (models/remedi-tiny-chains/ups), position step 75 (ups-position)
python -c "import torch; from remedi.model.ups_heads import UPSPosition; from remedi.model.ups_registry import save_ups; h = UPSPosition(128, 512); h.logits.data = -torch.arange(512.0); save_ups(h, 'out/chains19l-left-to-right')"
$CHVAL --model out/chains19l-mdm --ups out/chains19l-left-to-right --sources ups --remask-modes off \
  --out runs/chains19l-val500-left-to-right   # a strict left-to-right order
CHEV="python -m remedi.eval --data data/chains19l/test.jsonl --limit 1000 --gen-length 80 --batch-size 100 --seed 0
      --answer-format strict --no-detection"
$CHEV --model out/chains19l-rl-tps-s50 --sources ups --remask-modes off on --steps 1/4 1/8 --out runs/chains19l-test-rl
$CHEV --model out/chains19l-mdm --sources random tps_prob tps_margin tps_entropy --remask-modes on --steps 1/4 1/8 \
  --out runs/chains19l-test-heuristics-remask
$CHEV --model out/chains19l-rl-position-s75 --sources ups --remask-modes on --steps 1/4 1/8 \
  --out runs/chains19l-test-position
$CHEV --model out/chains19l-ups --sources ups --remask-modes off on --steps 1/4 1/8 --out runs/chains19l-test-sft
$CHEV --model out/chains19l-mdm --sources random tps_prob tps_margin tps_entropy --remask-modes off --steps 1/4 1/8 \
  --out runs/chains19l-test-heuristics
$CHEV --model out/chains19l-mdm --sources random tps_prob --remask-modes off --steps 1/1 \
  --out runs/chains19l-test-full   # one token per step, for two orders only (time)
python scripts/policy_report.py --policy runs/chains19l-test-rl:"RL UPS" --policy-block 80 \
  --runs runs/chains19l-test-full runs/chains19l-test-heuristics runs/chains19l-test-heuristics-remask \
  runs/chains19l-test-sft:"SFT UPS" runs/chains19l-test-position:"position-only" --out runs/chains19l-test-report.md \
  --latex paper/generated/chains_orders.tex --latex-label tab:chains-orders \
  --latex-caption "1000 test chains (labelled, 0..19), one block of 80 tokens: accuracy (\%) and RL UPS + remask minus it, paired, 95\% bootstrap intervals"

# 7d. The labelled chains after the ranking fix (positions ranked by order-keeping scores, not by float32
#     probabilities that tie at 1.0 and 0.0): the left-to-right order (-arange position logits, which had tied),
#     the RL UPS again, tps_prob in LLaDA's semi-autoregressive blocks, and the TPS + remask rows the fix changes.
$CHVAL --model out/chains19l-mdm --ups out/chains19l-left-to-right --sources ups --remask-modes off on \
  --out runs/chains19l-val500-left-to-right
$CHEV --model out/chains19l-mdm --ups out/chains19l-left-to-right --sources ups --remask-modes off --steps 20 10 \
  --out runs/chains19l-test-left-to-right
$CHEV --model out/chains19l-rl-tps-s50 --sources ups --remask-modes on --steps 20 10 --out runs/chains19l-test-rl-fixed
$CHEV --model out/chains19l-mdm --sources tps_prob --remask-modes off --steps 10 --block-lengths 8 16 \
  --out runs/chains19l-test-blocks-s10
$CHEV --model out/chains19l-mdm --sources tps_prob --remask-modes off --steps 20 --block-lengths 8 \
  --out runs/chains19l-test-blocks-s20
$CHEV --model out/chains19l-mdm --sources tps_prob tps_margin --remask-modes on --steps 20 10 \
  --out runs/chains19l-test-tps-remask
python scripts/policy_report.py --policy runs/chains19l-test-rl-fixed:"RL UPS" --policy-block 80 \
  --runs runs/chains19l-test-left-to-right:"left-to-right" runs/chains19l-test-blocks-s10 runs/chains19l-test-blocks-s20 \
  runs/chains19l-test-tps-remask --out runs/chains19l-test-semiar-report.md   # paper table: section 7f

# 7f. Whole-model Remask RL on the labelled chains and the heuristics in LLaDA's blocks at 20, 10 and 5 steps.
#     Every RL mode continues from the shipped model (out/chains19l-rl-tps-s50 = models/remedi-tiny-chains) with the
#     same rollouts: 64 per RL step (8 prompts x 8), budgets 10 and 5 in turn, a cosine schedule of 24 steps; the runs
#     were stopped after their step-8 checkpoint (512 rollouts; the LoRA run after step 16, the full-model run at
#     lr 3e-5 ran all 24) and are compared at step 8,
#     on 200 validation chains (the trainer's own validation, greedy UPS + remask).
CHW="python SMDM/pretrain/train_mdm_rl.py --model-path out/chains19l-rl-tps-s50 --data data/chains19l/train.jsonl
     --val-data data/chains19l/val.jsonl --val-limit 200 --val-steps 10 5 --reward strict --steps 10 5 --gen-length 80
     --position-temperature 1.0 --group-size 8 --prompts-per-step 8 --warmup-steps 3 --ppo-epochs 2 --val-every 8
     --save-every 8 --max-steps 24 --accelerator cpu"
$CHW --train lora --temperature 0.5 --lr 1e-3 --out-dir out/chains19l-rl-lora            # stopped after step 16
$CHW --train ups --temperature 0 --lr 3e-3 --out-dir out/chains19l-rl-ups                 # stopped after step 8
$CHW --train full --temperature 0.5 --lr 3e-5 --out-dir out/chains19l-rl-full-lr3e-5     # all 24 steps
$CHW --train full --temperature 0.5 --lr 3e-4 --out-dir out/chains19l-rl-full            # stopped after step 10
$CHW --train full --temperature 1.0 --lr 1e-4 --max-steps 16 --out-dir out/chains19l-rl-full-lr1e-4-t1
python -m remedi.eval --data data/chains19l/val.jsonl --limit 500 --gen-length 80 --batch-size 100 --seed 0 \
  --answer-format strict --no-detection --model models/remedi-tiny-chains --sources ups --remask-modes on --steps 10 5 \
  --out runs/chains19l-val500-ups-s10-s5
python scripts/accuracy_by_length.py --data data/chains19l/val.jsonl --runs runs/chains19l-val500-ups-s10-s5 \
  --out runs/chains19l-val500-by-length.md   # accuracy by the number of operations
# the position-only control, started as the left-to-right order (section 7d's out/chains19l-left-to-right)
$CHW --train ups --temperature 0 --lr 1e-2 --ups-path out/chains19l-left-to-right \
  --out-dir out/chains19l-rl-position-l2r                                                 # stopped after step 8
CHV2="python -m remedi.eval --data data/chains19l/val.jsonl --limit 200 --gen-length 80 --batch-size 100 --seed 0
      --answer-format strict --no-detection"
$CHV2 --model out/chains19l-rl-tps-s50 --sources ups --remask-modes on --steps 10 5 --out runs/chains19l-val200-rl-ups-s50
# every heuristic in LLaDA's blocks on validation (one step per block fills the whole block: every order gives the same
# answers there, so one run stands for all of them)
HEUR="--model out/chains19l-rl-tps-s50 --sources random tps_prob tps_margin tps_entropy --remask-modes off on"
$CHV2 --model out/chains19l-rl-tps-s50 --sources tps_prob --remask-modes off --steps 5 --block-lengths 16 \
  --out runs/chains19l-val200-onestep-s5
$CHV2 $HEUR --steps 5 --block-lengths 80 --out runs/chains19l-val200-heur-s5
$CHV2 --model out/chains19l-rl-tps-s50 --sources tps_prob --remask-modes off --steps 10 --block-lengths 8 \
  --out runs/chains19l-val200-onestep-s10
$CHV2 $HEUR --steps 10 --block-lengths 16 40 80 --out runs/chains19l-val200-heur-s10
CHEV="python -m remedi.eval --data data/chains19l/test.jsonl --limit 1000 --gen-length 80 --batch-size 100 --seed 0
      --answer-format strict --no-detection"
python scripts/export_rl_checkpoint.py out/chains19l-rl-position-l2r --step 8 --out out/chains19l-rl-position-l2r-s8
#   = models/remedi-tiny-chains/ups-position/ (its logits still fall with the position: it decodes left to right)
$CHEV --model out/chains19l-rl-tps-s50 --sources ups --remask-modes on --steps 5 --out runs/chains19l-test-rl-s5
$CHEV --model out/chains19l-rl-position-l2r-s8 --sources ups --remask-modes on --steps 10 5 \
  --out runs/chains19l-test-position-l2r
$CHEV --model out/chains19l-rl-tps-s50 --sources tps_prob --remask-modes off --steps 5 --block-lengths 16 \
  --out runs/chains19l-test-onestep-s5
python scripts/policy_report.py --policy runs/chains19l-test-rl-fixed:"RL UPS" --policy-block 80 \
  --runs runs/chains19l-test-rl-s5:"RL UPS" runs/chains19l-test-left-to-right:"left-to-right" \
  runs/chains19l-test-blocks-s10 runs/chains19l-test-blocks-s20 runs/chains19l-test-onestep-s5 \
  runs/chains19l-test-tps-remask runs/chains19l-test-position-l2r:"position-only" \
  --out runs/chains19l-test-semiar3-report.md \
  --latex paper/generated/chains_semiar.tex --latex-label tab:chains-semiar \
  --latex-caption "1000 test chains: the RL UPS at 20, 10 and 5 steps against LLaDA's semi-autoregressive blocks (the best heuristic on validation; with one step per block every order gives the same answers, shown as tps\\_prob), the left-to-right order, the position-only control (started as that order and trained by the same RL) and the TPS orders with remasking; accuracy (\\%) and RL UPS + remask minus it, paired, 95\\% bootstrap intervals"

# 7e. Sudoku from any valid grid (the shipped models/remedi-tiny-sudoku): 200,000 training puzzles with 50 givens
#     whose solved grids come from randomized backtracking and the symmetry group (section 7's came from one
#     pattern grid); the section-7 backbone (out/sudoku-mdm, 4000 steps) trained on them for 1000 more steps; its
#     orders on the first 100 test puzzles, among them section 7b's TPS-reading RL head (ups/, unchanged) and the
#     left-to-right order the position-only control starts from.
python scripts/make_sudoku_data.py --givens 50 --n-train 200000 --fresh-seed 1234 --out-dir data/sudoku50r
python scripts/make_sudoku_data.py --givens 40 --unique --n-train 0 --n-val 100 --n-test 200 --seed 7 \
  --out-dir data/sudoku40u   # harder: 40 givens, one solution each
python SMDM/pretrain/train_mdm.py --mode sft --data data/sudoku50r/train.jsonl --val-data data/sudoku50r/val.jsonl \
  --prompt-column question --response-column answer --seq-len 216 --micro-batch-size 32 --seed 0 --val-batches 4 \
  --objective mdm --model-path out/sudoku-mdm --max-steps 1000 --lr 1e-3 --weight-decay 0.01 --warmup-steps 100 \
  --val-every 250 --save-every 250 --out-dir out/sudoku-r-mdm
#     (the shipped run was started with --max-steps 3000 and continued with --resume --max-steps 1500 from step 250,
#     then with --resume --max-steps 1000 from step 500: the learning rate followed those schedules up to there)
python -c "import torch; from remedi.model.ups_heads import UPSPosition; from remedi.model.ups_registry import save_ups
left_to_right = UPSPosition(128, 512); left_to_right.logits.data = -0.5 * torch.arange(512.0)
save_ups(left_to_right, 'out/sudoku-r-l2r-init')"
SUDRVAL="python -m remedi.eval --data data/sudoku50r/val.jsonl --gen-length 96 --seed 0 --answer-format sudoku --no-detection"
$SUDRVAL --limit 100 --batch-size 100 --model out/sudoku-mdm --sources tps_margin --remask-modes off --steps 96 \
  --out runs/old-val-margin96   # the first backbone on random-grid puzzles
$SUDRVAL --limit 100 --batch-size 100 --model out/sudoku-r-mdm --sources random --remask-modes off --steps 24 \
  --out runs/sudoku-r-val-random24
$SUDRVAL --limit 100 --batch-size 100 --model out/sudoku-r-mdm --ups out/sudoku-r-l2r-init --sources ups \
  --remask-modes off --steps 24 --out runs/sudoku-r-val-l2r24
python scripts/sudoku_report.py --data data/sudoku50r/val.jsonl --runs runs/sudoku-r-val-random24 \
  runs/sudoku-r-val-l2r24:"left-to-right"   # the fixed order against random order, on validation
$SUDRVAL --limit 50 --batch-size 50 --model out/sudoku-r-mdm --ups out/sudoku-rl-margin-lr1e-2-s80/ups --sources ups \
  --remask-modes on --steps 24 12 --out runs/sudoku-r-val50-oldups-remask
$SUDRVAL --limit 50 --batch-size 50 --model out/sudoku-r-mdm --sources tps_margin --remask-modes on --steps 24 12 \
  --out runs/sudoku-r-val50-margin-remask
python scripts/sudoku_report.py --data data/sudoku50r/val.jsonl --baseline "tps_margin + remask" \
  --runs runs/sudoku-r-val50-margin-remask runs/sudoku-r-val50-oldups-remask   # ups/ kept as the default head
python -c "from remedi.model.ups_heads import UPSTPSHead; from remedi.model.ups_registry import save_ups; save_ups(UPSTPSHead(128, 64, start_feature='margin', start_scale=10.0), 'out/sudoku-r-margin-init')"
python SMDM/pretrain/train_mdm_rl.py --model-path out/sudoku-r-mdm --data data/sudoku50r/train.jsonl \
  --val-data data/sudoku50r/val.jsonl --val-limit 50 --val-steps 24 12 --reward sudoku_units --steps 24 12 \
  --gen-length 96 --temperature 0 --position-temperature 1.0 --group-size 8 --prompts-per-step 8 --warmup-steps 2 \
  --ppo-epochs 2 --val-every 4 --save-every 4 --max-steps 8 --accelerator cpu --ups-path out/sudoku-r-margin-init \
  --lr 1e-2 --out-dir out/sudoku-r-rl-tps   # its validation (metrics.csv) stays below ups/ on the same 50 puzzles
SUDREV="python -m remedi.eval --data data/sudoku50r/test.jsonl --limit 100 --gen-length 96 --batch-size 100 --seed 0
        --answer-format sudoku --no-detection"
$SUDREV --model out/sudoku-r-mdm --sources random tps_margin --remask-modes off --steps 96 --out runs/sudoku-r-test-full
$SUDREV --model out/sudoku-r-mdm --sources random tps_margin --remask-modes off --steps 24 12 --out runs/sudoku-r-test-noremask
$SUDREV --model out/sudoku-r-mdm --sources random tps_prob tps_margin tps_entropy --remask-modes on --steps 24 12 \
  --out runs/sudoku-r-test-remask
$SUDREV --model out/sudoku-r-mdm --sources tps_margin --remask-modes on --steps 24 12 --block-lengths 32 \
  --out runs/sudoku-r-test-margin-b32
$SUDREV --model out/sudoku-r-mdm --ups out/sudoku-rl-margin-lr1e-2-s80/ups --sources ups --remask-modes on \
  --steps 24 12 --out runs/sudoku-r-test-oldups-remask
$SUDREV --model out/sudoku-r-mdm --ups out/sudoku-r-l2r-init --sources ups --remask-modes on --steps 24 12 \
  --out runs/sudoku-r-test-l2r-remask
python scripts/sudoku_report.py --data data/sudoku50r/test.jsonl --runs runs/sudoku-r-test-full \
  runs/sudoku-r-test-noremask runs/sudoku-r-test-remask runs/sudoku-r-test-margin-b32 \
  runs/sudoku-r-test-oldups-remask:"RL UPS (TPS-reading)" runs/sudoku-r-test-l2r-remask:"left-to-right" \
  --out runs/sudoku-r-report.md
python -m remedi.eval --data data/sudoku40u/test.jsonl --limit 100 --gen-length 96 --batch-size 100 --seed 0 \
  --answer-format sudoku --no-detection --model out/sudoku-r-mdm --sources random tps_margin --remask-modes off \
  --steps 24 --out runs/sudoku-r-hard40-test
python scripts/sudoku_report.py --data data/sudoku40u/test.jsonl --runs runs/sudoku-r-hard40-test \
  --out runs/sudoku-r-hard40-report.md

# 7g. The shipped Sudoku backbone (models/remedi-tiny-sudoku/model.safetensors): section 7e's backbone trained
#     4750 more steps on the random-grid puzzles (chosen on validation: tps_margin at 96 steps solves 46 of the first
#     100 validation puzzles against 15 before); the orders on the first 500 test puzzles at 96, 24 and 12 steps;
#     the position-only control started as the left-to-right order and trained by the same Remask RL.
python SMDM/pretrain/train_mdm.py --mode sft --data data/sudoku50r/train.jsonl --val-data data/sudoku50r/val.jsonl \
  --prompt-column question --response-column answer --seq-len 216 --micro-batch-size 32 --seed 1 --val-batches 4 \
  --objective mdm --model-path out/sudoku-r-mdm --max-steps 5000 --lr 5e-4 --min-lr 5e-5 --weight-decay 0.01 \
  --warmup-steps 100 --val-every 500 --save-every 250 --out-dir out/sudoku-r2-mdm
#     (the shipped run was started with --max-steps 7000 and continued with --resume --max-steps 5000 from step 250)
SUDR2VAL="python -m remedi.eval --data data/sudoku50r/val.jsonl --gen-length 96 --seed 0 --answer-format sudoku
          --no-detection"
$SUDR2VAL --limit 100 --batch-size 100 --model out/sudoku-r-mdm --sources tps_margin --remask-modes off --steps 96 \
  --out runs/sudoku-r-val-margin96
$SUDR2VAL --limit 100 --batch-size 100 --model out/sudoku-r2-mdm --sources tps_margin --remask-modes off --steps 96 \
  --out runs/sudoku-r2-val-margin96
$SUDR2VAL --limit 200 --batch-size 100 --model out/sudoku-r2-mdm --sources tps_prob tps_margin tps_entropy \
  --remask-modes on --steps 24 12 --out runs/sudoku-r2-val-remask
$SUDR2VAL --limit 200 --batch-size 100 --model out/sudoku-r2-mdm --ups models/remedi-tiny-sudoku/ups-margin --sources ups \
  --remask-modes on --steps 24 12 --out runs/sudoku-r2-val-ups-remask
python scripts/sudoku_report.py --data data/sudoku50r/val.jsonl --baseline "tps_margin + remask" \
  --runs runs/sudoku-r2-val-remask runs/sudoku-r2-val-ups-remask:"RL UPS (TPS-reading)" --out runs/sudoku-r2-val-report.md
python SMDM/pretrain/train_mdm_rl.py --model-path out/sudoku-r2-mdm --data data/sudoku50r/train.jsonl \
  --val-data data/sudoku50r/val.jsonl --val-limit 50 --val-steps 24 12 --reward sudoku_units --steps 24 12 \
  --gen-length 96 --temperature 0 --position-temperature 1.0 --group-size 8 --prompts-per-step 8 --warmup-steps 2 \
  --ppo-epochs 2 --val-every 8 --save-every 8 --max-steps 16 --accelerator cpu --ups-path out/sudoku-r-l2r-init \
  --lr 1e-1 --out-dir out/sudoku-r2-rl-position
python scripts/export_rl_checkpoint.py out/sudoku-r2-rl-position --step BEST --out out/sudoku-r2-rl-position-best
#     BEST: the checkpoint (8 or 16) with the higher mean of val_accuracy_24_steps and val_accuracy_12_steps in its metrics.csv
SUDR2="python -m remedi.eval --data data/sudoku50r/test.jsonl --limit 500 --gen-length 96 --batch-size 100 --seed 0
       --answer-format sudoku --no-detection --model out/sudoku-r2-mdm"
$SUDR2 --sources random --remask-modes off --steps 96 --out runs/sudoku-r2-test-full-random
$SUDR2 --sources tps_margin --remask-modes off --steps 96 --out runs/sudoku-r2-test-full-margin
$SUDR2 --sources random tps_margin --remask-modes off --steps 24 12 --out runs/sudoku-r2-test-noremask
$SUDR2 --sources random tps_prob tps_margin tps_entropy --remask-modes on --steps 24 12 --out runs/sudoku-r2-test-remask
$SUDR2 --sources tps_prob --remask-modes off --block-lengths 8 32 --steps 24 12 --out runs/sudoku-r2-test-blocks-prob
$SUDR2 --sources tps_margin --remask-modes on --block-lengths 8 32 --steps 24 12 --out runs/sudoku-r2-test-blocks-margin
$SUDR2 --ups models/remedi-tiny-sudoku/ups-margin --sources ups --remask-modes on --steps 24 12 --out runs/sudoku-r2-test-ups
$SUDR2 --ups out/sudoku-r-l2r-init --sources ups --remask-modes on --steps 24 12 --out runs/sudoku-r2-test-l2r
$SUDR2 --ups out/sudoku-r2-rl-position-best/ups --sources ups --remask-modes on --steps 24 12 \
  --out runs/sudoku-r2-test-position
python scripts/sudoku_report.py --data data/sudoku50r/test.jsonl --runs runs/sudoku-r2-test-full-random \
  runs/sudoku-r2-test-full-margin runs/sudoku-r2-test-noremask runs/sudoku-r2-test-remask runs/sudoku-r2-test-blocks-prob \
  runs/sudoku-r2-test-blocks-margin runs/sudoku-r2-test-ups:"RL UPS (TPS-reading)" \
  runs/sudoku-r2-test-l2r:"left-to-right" runs/sudoku-r2-test-position:"position-only control" \
  --out runs/sudoku-r2-report.md --latex paper/generated/sudoku_random_grids.tex --latex-label tab:sudoku-random-grids
for baseline in "tps_margin + remask:vs-margin-remask" "tps_prob + remask:vs-prob-remask" \
                "left-to-right + remask:vs-left-to-right"; do   # the same rows, paired with another order
  python scripts/sudoku_report.py --data data/sudoku50r/test.jsonl --baseline "${baseline%%:*}" \
    --runs runs/sudoku-r2-test-full-random runs/sudoku-r2-test-full-margin runs/sudoku-r2-test-noremask \
    runs/sudoku-r2-test-remask runs/sudoku-r2-test-blocks-prob runs/sudoku-r2-test-blocks-margin \
    runs/sudoku-r2-test-ups:"RL UPS (TPS-reading)" runs/sudoku-r2-test-l2r:"left-to-right" \
    runs/sudoku-r2-test-position:"position-only control" --out "runs/sudoku-r2-report-${baseline##*:}.md"
done

# 7h. The shipped Sudoku backbone (models/remedi-tiny-sudoku/model.safetensors): section 7g's backbone trained 4500
#     more steps on the random-grid puzzles (chosen on validation: tps_margin at 96 steps solves 67 of the first 100
#     validation puzzles against 46 before); every order on the first 500 test puzzles at 96, 24 and 12 steps, and
#     on 100 harder ones (40 givens, one solution). The heads are section 7g's, unchanged: ups/ (TPS-reading) and
#     the position-only control (trained on section 7g's backbone; its logits do not read the backbone).
python SMDM/pretrain/train_mdm.py --mode sft --data data/sudoku50r/train.jsonl --val-data data/sudoku50r/val.jsonl \
  --prompt-column question --response-column answer --seq-len 216 --micro-batch-size 32 --seed 2 --val-batches 4 \
  --objective mdm --model-path out/sudoku-r2-mdm --max-steps 4500 --lr 5e-4 --min-lr 5e-5 --weight-decay 0.01 \
  --warmup-steps 100 --val-every 500 --save-every 250 --out-dir out/sudoku-r3-mdm
#     (the shipped run was started with --max-steps 5000 and continued with --resume and --max-steps 3500 from step
#     750, 2500 from step 1250 and 4500 from step 2000: the learning rate followed those schedules up to there)
SUDR3VAL="python -m remedi.eval --data data/sudoku50r/val.jsonl --gen-length 96 --seed 0 --answer-format sudoku
          --no-detection --batch-size 100 --model out/sudoku-r3-mdm"
$SUDR3VAL --limit 200 --sources tps_prob tps_margin tps_entropy --remask-modes on --steps 24 12 --out runs/sudoku-r3-val-remask
$SUDR3VAL --limit 200 --ups models/remedi-tiny-sudoku/ups-margin --sources ups --remask-modes on --steps 24 12 \
  --out runs/sudoku-r3-val-ups-remask
$SUDR3VAL --limit 100 --sources tps_margin --remask-modes off --steps 96 --out runs/sudoku-r3-val-margin96
$SUDR3VAL --limit 100 --sources tps_prob tps_margin --remask-modes on --steps 96 --out runs/sudoku-r3-val-remask96
$SUDR3VAL --limit 100 --ups models/remedi-tiny-sudoku/ups-margin --sources ups --remask-modes on --steps 96 \
  --out runs/sudoku-r3-val-ups96
python scripts/sudoku_report.py --data data/sudoku50r/val.jsonl --baseline "tps_entropy + remask" \
  --runs runs/sudoku-r3-val-remask runs/sudoku-r3-val-ups-remask:"RL UPS (TPS-reading)" --out runs/sudoku-r3-val-report.md
SUDR3="python -m remedi.eval --data data/sudoku50r/test.jsonl --limit 500 --gen-length 96 --batch-size 100 --seed 0
       --answer-format sudoku --no-detection --model out/sudoku-r3-mdm"
$SUDR3 --sources random --remask-modes off --steps 96 --out runs/sudoku-r3-test-full-random
$SUDR3 --sources tps_margin --remask-modes off --steps 96 --out runs/sudoku-r3-test-full-margin
$SUDR3 --sources tps_prob --remask-modes on --steps 96 --out runs/sudoku-r3-test-full-prob-remask
$SUDR3 --ups models/remedi-tiny-sudoku/ups-margin --sources ups --remask-modes on --steps 96 --out runs/sudoku-r3-test-full-ups
$SUDR3 --sources random tps_margin --remask-modes off --steps 24 12 --out runs/sudoku-r3-test-noremask
$SUDR3 --sources random tps_prob tps_margin tps_entropy --remask-modes on --steps 24 12 --out runs/sudoku-r3-test-remask
$SUDR3 --sources tps_prob --remask-modes off --block-lengths 8 32 --steps 24 12 --out runs/sudoku-r3-test-blocks-prob
$SUDR3 --sources tps_margin --remask-modes on --block-lengths 8 32 --steps 24 12 --out runs/sudoku-r3-test-blocks-margin
$SUDR3 --ups models/remedi-tiny-sudoku/ups-margin --sources ups --remask-modes on --steps 24 12 --out runs/sudoku-r3-test-ups
$SUDR3 --ups out/sudoku-r-l2r-init --sources ups --remask-modes on --steps 24 12 --out runs/sudoku-r3-test-l2r
$SUDR3 --ups models/remedi-tiny-sudoku/ups-position --sources ups --remask-modes on --steps 24 12 \
  --out runs/sudoku-r3-test-position
R3RUNS=(runs/sudoku-r3-test-full-random runs/sudoku-r3-test-full-margin runs/sudoku-r3-test-full-prob-remask
        "runs/sudoku-r3-test-full-ups:RL UPS (TPS-reading)" runs/sudoku-r3-test-noremask runs/sudoku-r3-test-remask
        runs/sudoku-r3-test-blocks-prob runs/sudoku-r3-test-blocks-margin "runs/sudoku-r3-test-ups:RL UPS (TPS-reading)"
        runs/sudoku-r3-test-l2r:left-to-right "runs/sudoku-r3-test-position:position-only control")
python scripts/sudoku_report.py --data data/sudoku50r/test.jsonl --runs "${R3RUNS[@]}" \
  --out runs/sudoku-r3-report.md --latex paper/generated/sudoku_random_grids.tex --latex-label tab:sudoku-random-grids
for baseline in "tps_entropy + remask:vs-entropy-remask" "tps_margin + remask:vs-margin-remask" "tps_prob + remask:vs-prob-remask" \
                "left-to-right + remask:vs-left-to-right"; do   # the same rows, paired with another order
  python scripts/sudoku_report.py --data data/sudoku50r/test.jsonl --baseline "${baseline%%:*}" --runs "${R3RUNS[@]}" \
    --out "runs/sudoku-r3-report-${baseline##*:}.md"
done
SUDH="python -m remedi.eval --data data/sudoku40u/test.jsonl --limit 100 --gen-length 96 --batch-size 100 --seed 0
      --answer-format sudoku --no-detection --model out/sudoku-r3-mdm"
$SUDH --sources random tps_margin --remask-modes off --steps 96 --out runs/sudoku-r3-hard40-full
$SUDH --sources tps_prob --remask-modes on --steps 96 --out runs/sudoku-r3-hard40-prob-remask
$SUDH --ups models/remedi-tiny-sudoku/ups-margin --sources ups --remask-modes on --steps 96 --out runs/sudoku-r3-hard40-ups
python scripts/sudoku_report.py --data data/sudoku40u/test.jsonl --runs runs/sudoku-r3-hard40-full \
  runs/sudoku-r3-hard40-prob-remask runs/sudoku-r3-hard40-ups:"RL UPS (TPS-reading)" --out runs/sudoku-r3-hard40-report.md

# 7i. The shipped Sudoku model (models/remedi-tiny-sudoku: model.safetensors and ups/): section 7h's backbone trained
#     5000 more steps on the random-grid puzzles; more Remask RL of the margin-started head (ups-margin/) and Remask
#     SFT of a fresh head on section 7h's backbone, and Remask RL of a head started as tps_entropy on the new one;
#     the head chosen on validation with the new backbone; every order on the first 500 test puzzles at 96, 24 and
#     12 steps, and on 100 harder ones (40 givens, one solution).
python SMDM/pretrain/train_mdm.py --mode sft --data data/sudoku50r/train.jsonl --val-data data/sudoku50r/val.jsonl \
  --prompt-column question --response-column answer --seq-len 216 --micro-batch-size 32 --seed 3 --val-batches 4 \
  --objective mdm --model-path out/sudoku-r3-mdm --max-steps 5000 --lr 5e-4 --min-lr 5e-5 --weight-decay 0.01 \
  --warmup-steps 100 --val-every 500 --save-every 250 --out-dir out/sudoku-r4-mdm
python SMDM/pretrain/train_mdm_rl.py --model-path out/sudoku-r3-mdm --ups-path models/remedi-tiny-sudoku/ups-margin \
  --data data/sudoku50r/train.jsonl --val-data data/sudoku50r/val.jsonl --val-limit 100 --val-steps 24 12 \
  --reward sudoku_units --steps 24 12 --gen-length 96 --temperature 0 --position-temperature 1.0 --group-size 8 \
  --prompts-per-step 8 --warmup-steps 2 --ppo-epochs 2 --val-every 8 --save-every 8 --max-steps 32 \
  --accelerator cpu --lr 3e-3 --seed 5 --out-dir out/sudoku-r3-rl-ups
python scripts/export_rl_checkpoint.py out/sudoku-r3-rl-ups --step 24 --out out/sudoku-r3-rl-ups-best
#     (step 24: the highest mean validation unit share over the two budgets, 96.8 / 94.3%, against 96.3 / 94.2% for
#     ups/ on the same 100 puzzles)
python SMDM/pretrain/train_mdm.py --mode sft --data data/sudoku50r/train.jsonl --val-data data/sudoku50r/val.jsonl \
  --prompt-column question --response-column answer --seq-len 216 --micro-batch-size 32 --seed 0 --val-batches 4 \
  --objective remask_sft --train ups --ups-arch mlp --model-path out/sudoku-r3-mdm --r-incorrect 0.3 \
  --ups-label-smoothing 0.1 --replacement batch --max-steps 600 --lr 3e-3 --warmup-steps 50 --val-every 200 \
  --save-every 200 --out-dir out/sudoku-r3-sft-ups
SUDR4VAL="python -m remedi.eval --data data/sudoku50r/val.jsonl --gen-length 96 --seed 0 --answer-format sudoku
          --no-detection --batch-size 100 --trajectory-index 0"
$SUDR4VAL --model out/sudoku-r3-sft-ups --limit 100 --sources ups --remask-modes on --steps 24 12 \
  --out runs/sudoku-r3-val-sft-ups
$SUDR4VAL --model out/sudoku-r4-mdm --limit 100 --sources tps_margin --remask-modes off --steps 96 \
  --out runs/sudoku-r4-val-margin96
$SUDR4VAL --model out/sudoku-r4-mdm --limit 100 --sources tps_prob tps_margin tps_entropy --remask-modes on --steps 96 \
  --out runs/sudoku-r4-val-remask96
$SUDR4VAL --model out/sudoku-r4-mdm --limit 100 --ups models/remedi-tiny-sudoku/ups-margin --sources ups --remask-modes on \
  --steps 96 --out runs/sudoku-r4-val-ups96
$SUDR4VAL --model out/sudoku-r4-mdm --limit 200 --sources tps_prob tps_margin tps_entropy --remask-modes on \
  --steps 24 12 --out runs/sudoku-r4-val-remask
$SUDR4VAL --model out/sudoku-r4-mdm --limit 200 --ups models/remedi-tiny-sudoku/ups-margin --sources ups --remask-modes on \
  --steps 24 12 --out runs/sudoku-r4-val-ups-remask
$SUDR4VAL --model out/sudoku-r4-mdm --limit 200 --ups out/sudoku-r3-rl-ups-best/ups --sources ups --remask-modes on \
  --steps 24 12 --out runs/sudoku-r4-val-rlups-remask

python -c "from remedi.model.ups_heads import UPSTPSHead; from remedi.model.ups_registry import save_ups; save_ups(UPSTPSHead(128, 64, start_feature='neg_entropy', start_scale=10.0), 'out/sudoku-r4-entropy-init')"
python SMDM/pretrain/train_mdm_rl.py --model-path out/sudoku-r4-mdm --ups-path out/sudoku-r4-entropy-init \
  --data data/sudoku50r/train.jsonl --val-data data/sudoku50r/val.jsonl --val-limit 100 --val-steps 24 12 \
  --reward sudoku_units --steps 24 12 --gen-length 96 --temperature 0 --position-temperature 1.0 --group-size 8 \
  --prompts-per-step 8 --warmup-steps 2 --ppo-epochs 2 --val-every 8 --save-every 8 --max-steps 32 \
  --accelerator cpu --lr 1e-2 --seed 6 --out-dir out/sudoku-r4-rl-entropy
python scripts/export_rl_checkpoint.py out/sudoku-r4-rl-entropy --step 16 --out out/sudoku-r4-rl-entropy-best
#     (step 16: the highest mean validation unit share over the two budgets, 99.4 / 97.1%, against 98.6 / 95.8% for
#     its start, tps_entropy + remask, on the same 100 puzzles; shipped as models/remedi-tiny-sudoku/ups until
#     section 7k, now ups-50-givens/)
$SUDR4VAL --model out/sudoku-r4-mdm --limit 200 --ups out/sudoku-r4-rl-entropy-best/ups --sources ups --remask-modes on \
  --steps 24 12 --out runs/sudoku-r4-val-rlentropy-remask
python scripts/sudoku_report.py --data data/sudoku50r/val.jsonl --baseline "tps_entropy + remask" \
  --runs runs/sudoku-r4-val-remask runs/sudoku-r4-val-ups-remask:"RL UPS (TPS-reading), margin start" \
  runs/sudoku-r4-val-rlups-remask:"the same, 24 more RL steps" \
  runs/sudoku-r4-val-rlentropy-remask:"RL UPS (TPS-reading), entropy start" --out runs/sudoku-r4-val-report.md
SUDR4="python -m remedi.eval --data data/sudoku50r/test.jsonl --limit 500 --gen-length 96 --batch-size 100 --seed 0
       --answer-format sudoku --no-detection --trajectory-index 0 --model out/sudoku-r4-mdm"
UPS4=models/remedi-tiny-sudoku/ups-50-givens   # this section's ups/; section 7k's head replaced it
$SUDR4 --sources random --remask-modes off --steps 96 --out runs/sudoku-r4-test-full-random
$SUDR4 --sources tps_margin --remask-modes off --steps 96 --out runs/sudoku-r4-test-full-margin
$SUDR4 --sources tps_entropy --remask-modes on --steps 96 --out runs/sudoku-r4-test-full-remask
$SUDR4 --ups $UPS4 --sources ups --remask-modes on --steps 96 --out runs/sudoku-r4-test-full-ups
$SUDR4 --sources random tps_margin --remask-modes off --steps 24 12 --out runs/sudoku-r4-test-noremask
$SUDR4 --sources random tps_prob tps_margin tps_entropy --remask-modes on --steps 24 12 --out runs/sudoku-r4-test-remask
$SUDR4 --sources tps_prob --remask-modes off --block-lengths 8 32 --steps 24 12 --out runs/sudoku-r4-test-blocks-prob
$SUDR4 --sources tps_margin --remask-modes on --block-lengths 8 32 --steps 24 12 --out runs/sudoku-r4-test-blocks-margin
$SUDR4 --ups $UPS4 --sources ups --remask-modes on --steps 24 12 --out runs/sudoku-r4-test-ups
$SUDR4 --ups out/sudoku-r-l2r-init --sources ups --remask-modes on --steps 24 12 --out runs/sudoku-r4-test-l2r
$SUDR4 --ups models/remedi-tiny-sudoku/ups-position --sources ups --remask-modes on --steps 24 12 \
  --out runs/sudoku-r4-test-position
R4RUNS=(runs/sudoku-r4-test-full-random runs/sudoku-r4-test-full-margin runs/sudoku-r4-test-full-remask
        "runs/sudoku-r4-test-full-ups:RL UPS (TPS-reading)" runs/sudoku-r4-test-noremask runs/sudoku-r4-test-remask
        runs/sudoku-r4-test-blocks-prob runs/sudoku-r4-test-blocks-margin "runs/sudoku-r4-test-ups:RL UPS (TPS-reading)"
        runs/sudoku-r4-test-l2r:left-to-right "runs/sudoku-r4-test-position:position-only control")
python scripts/sudoku_report.py --data data/sudoku50r/test.jsonl --runs "${R4RUNS[@]}" \
  --out runs/sudoku-r4-report.md --latex paper/generated/sudoku_random_grids.tex --latex-label tab:sudoku-random-grids
for baseline in "tps_entropy + remask:vs-entropy-remask" "left-to-right + remask:vs-left-to-right"; do
  python scripts/sudoku_report.py --data data/sudoku50r/test.jsonl --baseline "${baseline%%:*}" --runs "${R4RUNS[@]}" \
    --out "runs/sudoku-r4-report-${baseline##*:}.md"   # the same rows, paired with another order
done
SUDR4H="python -m remedi.eval --data data/sudoku40u/test.jsonl --limit 100 --gen-length 96 --batch-size 100 --seed 0
        --answer-format sudoku --no-detection --trajectory-index 0 --model out/sudoku-r4-mdm"
$SUDR4H --sources random tps_margin --remask-modes off --steps 96 --out runs/sudoku-r4-hard40-full
$SUDR4H --sources tps_entropy --remask-modes on --steps 96 --out runs/sudoku-r4-hard40-full-remask
$SUDR4H --ups $UPS4 --sources ups --remask-modes on --steps 96 --out runs/sudoku-r4-hard40-ups
python scripts/sudoku_report.py --data data/sudoku40u/test.jsonl --runs runs/sudoku-r4-hard40-full \
  runs/sudoku-r4-hard40-full-remask runs/sudoku-r4-hard40-ups:"RL UPS (TPS-reading)" --out runs/sudoku-r4-hard40-report.md

# 7j. The same model and heads on all 1000 test puzzles: section 7i's runs scored the first 500, and the same
#     commands with --skip 500 --limit 500 score the other 500 (scripts/sudoku_report.py joins the two parts as
#     DIR1+DIR2); the rows 7i did not run (tps_prob and tps_entropy without remasking, random, tps_prob and
#     tps_margin with remasking at the full budget, every order in LLaDA's blocks with and without
#     remasking) on all 1000; the second 100 of the 200 harder test puzzles. First, more Remask RL of the
#     shipped head, judged on validation.
python SMDM/pretrain/train_mdm_rl.py --model-path out/sudoku-r4-mdm --ups-path out/sudoku-r4-rl-entropy-best/ups \
  --data data/sudoku50r/train.jsonl --val-data data/sudoku50r/val.jsonl --val-limit 100 --val-steps 24 12 \
  --reward sudoku_units --steps 24 12 --gen-length 96 --temperature 0 --position-temperature 1.0 --group-size 8 \
  --prompts-per-step 8 --warmup-steps 2 --ppo-epochs 2 --val-every 8 --save-every 8 --max-steps 32 \
  --accelerator cpu --lr 3e-3 --seed 7 --out-dir out/sudoku-r5-rl-entropy-more
#     (more RL of the shipped head at a lower learning rate, stopped after 18 of 32 steps: validation unit share
#     97.8 / 95.2% at step 8 and 96.9 / 96.1% at step 16, below its start's 99.4 / 97.1%; not used)
SUDR5="python -m remedi.eval --data data/sudoku50r/test.jsonl --gen-length 96 --batch-size 100 --seed 0
       --answer-format sudoku --no-detection --trajectory-index 0 --model out/sudoku-r4-mdm"
SUDR5B="$SUDR5 --skip 500 --limit 500"
$SUDR5B --sources random --remask-modes off --steps 96 --out runs/sudoku-r5-b-test-full-random
$SUDR5B --sources tps_margin --remask-modes off --steps 96 --out runs/sudoku-r5-b-test-full-margin
$SUDR5B --sources tps_entropy --remask-modes on --steps 96 --out runs/sudoku-r5-b-test-full-remask
$SUDR5B --ups $UPS4 --sources ups --remask-modes on --steps 96 --out runs/sudoku-r5-b-test-full-ups
$SUDR5B --sources random tps_margin --remask-modes off --steps 24 12 --out runs/sudoku-r5-b-test-noremask
$SUDR5B --sources random tps_prob tps_margin tps_entropy --remask-modes on --steps 24 12 --out runs/sudoku-r5-b-test-remask
$SUDR5B --sources tps_prob --remask-modes off --block-lengths 8 32 --steps 24 12 --out runs/sudoku-r5-b-test-blocks-prob
$SUDR5B --sources tps_margin --remask-modes on --block-lengths 8 32 --steps 24 12 \
  --out runs/sudoku-r5-b-test-blocks-margin
$SUDR5B --ups $UPS4 --sources ups --remask-modes on --steps 24 12 --out runs/sudoku-r5-b-test-ups
$SUDR5B --ups out/sudoku-r-l2r-init --sources ups --remask-modes on --steps 24 12 --out runs/sudoku-r5-b-test-l2r
$SUDR5B --ups models/remedi-tiny-sudoku/ups-position --sources ups --remask-modes on --steps 24 12 \
  --out runs/sudoku-r5-b-test-position
$SUDR5 --limit 1000 --sources tps_prob --remask-modes off --steps 96 --out runs/sudoku-r5-test-full-prob
$SUDR5 --limit 1000 --sources tps_entropy --remask-modes off --steps 96 --out runs/sudoku-r5-test-full-entropy
$SUDR5 --limit 1000 --sources random --remask-modes on --steps 96 --out runs/sudoku-r5-test-full-random-remask
$SUDR5 --limit 1000 --sources tps_prob tps_margin --remask-modes on --steps 96 \
  --out runs/sudoku-r5-test-full-prob-margin-remask
$SUDR5 --limit 1000 --sources tps_prob tps_entropy --remask-modes off --steps 24 12 \
  --out runs/sudoku-r5-test-noremask-prob-entropy
$SUDR5 --limit 1000 --sources tps_entropy --remask-modes on --block-lengths 8 32 --steps 24 12 \
  --out runs/sudoku-r5-test-blocks-entropy-remask
$SUDR5 --limit 1000 --sources tps_entropy --remask-modes off --block-lengths 8 32 --steps 24 12 \
  --out runs/sudoku-r5-test-blocks-entropy-noremask
$SUDR5 --limit 1000 --sources tps_prob --remask-modes on --block-lengths 8 32 --steps 24 12 \
  --out runs/sudoku-r5-test-blocks-prob-remask
$SUDR5 --limit 1000 --sources tps_margin --remask-modes off --block-lengths 8 32 --steps 24 12 \
  --out runs/sudoku-r5-test-blocks-margin-noremask
$SUDR5 --limit 1000 --sources random --remask-modes on off --block-lengths 8 32 --steps 24 12 \
  --out runs/sudoku-r5-test-blocks-random
WHOLE=(runs/sudoku-r4-test-full-random+runs/sudoku-r5-b-test-full-random
       runs/sudoku-r4-test-full-margin+runs/sudoku-r5-b-test-full-margin
       runs/sudoku-r5-test-full-prob runs/sudoku-r5-test-full-entropy runs/sudoku-r5-test-full-random-remask
       runs/sudoku-r5-test-full-prob-margin-remask runs/sudoku-r4-test-full-remask+runs/sudoku-r5-b-test-full-remask
       "runs/sudoku-r4-test-full-ups+runs/sudoku-r5-b-test-full-ups:RL UPS (TPS-reading)"
       runs/sudoku-r4-test-noremask+runs/sudoku-r5-b-test-noremask runs/sudoku-r5-test-noremask-prob-entropy
       runs/sudoku-r4-test-remask+runs/sudoku-r5-b-test-remask
       "runs/sudoku-r4-test-ups+runs/sudoku-r5-b-test-ups:RL UPS (TPS-reading)"
       runs/sudoku-r4-test-l2r+runs/sudoku-r5-b-test-l2r:left-to-right
       "runs/sudoku-r4-test-position+runs/sudoku-r5-b-test-position:position-only control")
BLOCKS=(runs/sudoku-r4-test-noremask+runs/sudoku-r5-b-test-noremask
        runs/sudoku-r4-test-blocks-prob+runs/sudoku-r5-b-test-blocks-prob
        runs/sudoku-r4-test-blocks-margin+runs/sudoku-r5-b-test-blocks-margin
        runs/sudoku-r5-test-blocks-entropy-remask runs/sudoku-r5-test-blocks-entropy-noremask
        runs/sudoku-r5-test-blocks-prob-remask runs/sudoku-r5-test-blocks-margin-noremask
        runs/sudoku-r5-test-blocks-random)
python scripts/sudoku_report.py --data data/sudoku50r/test.jsonl --runs "${WHOLE[@]}" "${BLOCKS[@]:1}" \
  --out runs/sudoku-r5-report.md
python scripts/sudoku_report.py --data data/sudoku50r/test.jsonl --runs "${WHOLE[@]}" \
  --latex paper/generated/sudoku_random_grids.tex --latex-label tab:sudoku-random-grids
python scripts/sudoku_report.py --data data/sudoku50r/test.jsonl --runs "${BLOCKS[@]}" \
  --latex paper/generated/sudoku_random_grids_blocks.tex --latex-label tab:sudoku-random-grids-blocks
for baseline in "tps_entropy + remask:vs-entropy-remask" "left-to-right + remask:vs-left-to-right"; do
  python scripts/sudoku_report.py --data data/sudoku50r/test.jsonl --baseline "${baseline%%:*}" \
    --runs "${WHOLE[@]}" "${BLOCKS[@]:1}" --out "runs/sudoku-r5-report-${baseline##*:}.md"
done
SUDR5H="python -m remedi.eval --data data/sudoku40u/test.jsonl --skip 100 --limit 100 --gen-length 96 --batch-size 100
        --seed 0 --answer-format sudoku --no-detection --trajectory-index 0 --model out/sudoku-r4-mdm"
$SUDR5H --sources random tps_margin --remask-modes off --steps 96 --out runs/sudoku-r5-b-hard40-full
$SUDR5H --sources tps_entropy --remask-modes on --steps 96 --out runs/sudoku-r5-b-hard40-full-remask
$SUDR5H --ups $UPS4 --sources ups --remask-modes on --steps 96 --out runs/sudoku-r5-b-hard40-ups
HARD=(runs/sudoku-r4-hard40-full+runs/sudoku-r5-b-hard40-full
      runs/sudoku-r4-hard40-full-remask+runs/sudoku-r5-b-hard40-full-remask
      "runs/sudoku-r4-hard40-ups+runs/sudoku-r5-b-hard40-ups:RL UPS (TPS-reading)")
python scripts/sudoku_report.py --data data/sudoku40u/test.jsonl --runs "${HARD[@]}" --out runs/sudoku-r5-hard40-report.md
python scripts/sudoku_report.py --data data/sudoku40u/test.jsonl --baseline "tps_entropy + remask" --runs "${HARD[@]}" \
  --out runs/sudoku-r5-hard40-report-vs-entropy-remask.md

# 7k. The default Sudoku head since this section (models/remedi-tiny-sudoku/ups; section 7i's head moved to
#     ups-50-givens/): Remask RL on a mix of 4,000 50-given puzzles and 4,000 harder ones (40 givens, one solution
#     each, drawn from another seed than data/sudoku40u; none is a validation or test puzzle of either set), where
#     fewer rollout groups are all right than on 50-given puzzles alone. Three runs; the head with the highest mean
#     of puzzles solved at 24 and 12 steps on all 500 validation puzzles ships; then the test puzzles.
python scripts/make_sudoku_data.py --givens 40 --unique --n-train 4000 --n-val 0 --n-test 0 --seed 8 \
  --out-dir data/sudoku40u-train
mkdir -p data/sudoku-mix
{ cat data/sudoku40u-train/train.jsonl; head -n 4000 data/sudoku50r/train.jsonl; } > data/sudoku-mix/train.jsonl
MIXRL="python SMDM/pretrain/train_mdm_rl.py --model-path out/sudoku-r4-mdm --data data/sudoku-mix/train.jsonl
       --val-data data/sudoku50r/val.jsonl --val-limit 200 --val-steps 24 12 --reward sudoku_units --steps 24 12
       --gen-length 96 --temperature 0 --position-temperature 1.0 --group-size 8 --prompts-per-step 8
       --warmup-steps 2 --ppo-epochs 2 --val-every 8 --save-every 8 --max-steps 48 --accelerator cpu"
$MIXRL --ups-path out/sudoku-r4-rl-entropy-best/ups --lr 3e-3 --seed 9 --out-dir out/sudoku-r6-rl-mix-more
$MIXRL --ups-path out/sudoku-r4-entropy-init --lr 1e-2 --seed 10 --out-dir out/sudoku-r6-rl-mix-entropy
$MIXRL --ups-path out/sudoku-r6-rl-mix-entropy/ups --lr 1e-2 --seed 11 --out-dir out/sudoku-r6-rl-mix-entropy-more
#     (the best checkpoints by in-run validation, the mean unit share over the two budgets on the first 200
#     validation puzzles: step 40 of the first run, 98.2 / 97.5%; step 48 of the second, its out-dir, 98.3 /
#     97.6%; steps 32 and 48 of the third, tied at 98.4 / 98.2% and 98.8 / 97.8%)
python scripts/export_rl_checkpoint.py out/sudoku-r6-rl-mix-more --step 40 --out out/sudoku-r6-rl-mix-more-best
python scripts/export_rl_checkpoint.py out/sudoku-r6-rl-mix-entropy-more --step 32 --out out/sudoku-r6-rl-best
SUDR6VAL="python -m remedi.eval --data data/sudoku50r/val.jsonl --limit 500 --gen-length 96 --seed 0
          --answer-format sudoku --no-detection --batch-size 100 --trajectory-index 0 --model out/sudoku-r4-mdm
          --steps 24 12 --remask-modes on"
$SUDR6VAL --sources tps_entropy --out runs/sudoku-r6-val-entropy-remask
$SUDR6VAL --ups out/sudoku-r4-rl-entropy-best/ups --sources ups --out runs/sudoku-r6-val-shipped
$SUDR6VAL --ups out/sudoku-r6-rl-mix-more-best/ups --sources ups --out runs/sudoku-r6-val-mix-more
$SUDR6VAL --ups out/sudoku-r6-rl-mix-entropy/ups --sources ups --out runs/sudoku-r6-val-mix-entropy
$SUDR6VAL --ups out/sudoku-r6-rl-best/ups --sources ups --out runs/sudoku-r6-val-mix-entropy-more-32
$SUDR6VAL --ups out/sudoku-r6-rl-mix-entropy-more/ups --sources ups --out runs/sudoku-r6-val-mix-entropy-more-48
python scripts/sudoku_report.py --data data/sudoku50r/val.jsonl --baseline "tps_entropy + remask" \
  --runs runs/sudoku-r6-val-entropy-remask "runs/sudoku-r6-val-shipped:ups-50-givens (section 7i)" \
  "runs/sudoku-r6-val-mix-more:ups-50-givens + 40 RL steps on the mix" \
  "runs/sudoku-r6-val-mix-entropy:RL on the mix from tps_entropy, 48 steps" \
  "runs/sudoku-r6-val-mix-entropy-more-32:the same + 32 steps" "runs/sudoku-r6-val-mix-entropy-more-48:the same + 48 steps" \
  --out runs/sudoku-r6-val-report.md
#     (highest mean solved over 24 and 12 steps: "the same + 32 steps", 86.0 / 83.2%, = out/sudoku-r6-rl-best/ups,
#     shipped as models/remedi-tiny-sudoku/ups)
SUDR6="python -m remedi.eval --data data/sudoku50r/test.jsonl --limit 1000 --gen-length 96 --batch-size 100 --seed 0
       --answer-format sudoku --no-detection --trajectory-index 0 --model out/sudoku-r4-mdm --remask-modes on"
$SUDR6 --sources tps_entropy --steps 96 --out runs/sudoku-r6-test-full-entropy-remask
$SUDR6 --sources tps_entropy --steps 24 12 --out runs/sudoku-r6-test-entropy-remask
$SUDR6 --ups out/sudoku-r6-rl-best/ups --sources ups --steps 96 --out runs/sudoku-r6-test-full-ups
$SUDR6 --ups out/sudoku-r6-rl-best/ups --sources ups --steps 24 12 --out runs/sudoku-r6-test-ups
$SUDR6 --ups out/sudoku-r4-rl-entropy-best/ups --sources ups --steps 24 12 --out runs/sudoku-r6-test-ups-50-givens
R6RUNS=(runs/sudoku-r6-test-full-entropy-remask "runs/sudoku-r6-test-full-ups:RL UPS, mixed puzzles (ups/)"
        runs/sudoku-r6-test-entropy-remask "runs/sudoku-r6-test-ups:RL UPS, mixed puzzles (ups/)"
        "runs/sudoku-r6-test-ups-50-givens:RL UPS, 50-given puzzles (ups-50-givens/)")
python scripts/sudoku_report.py --data data/sudoku50r/test.jsonl --baseline "tps_entropy + remask" --runs "${R6RUNS[@]}" \
  --out runs/sudoku-r6-report.md --latex paper/generated/sudoku_mixed_rl.tex --latex-label tab:sudoku-mixed-rl
python scripts/sudoku_report.py --data data/sudoku50r/test.jsonl --runs "${R6RUNS[@]:2}" \
  --baseline "RL UPS, 50-given puzzles (ups-50-givens/) + remask" --out runs/sudoku-r6-report-vs-50-givens.md
#     LLaDA's blocks at the full budget, for the best one-block heuristic (tps_entropy + remask) and for LLaDA's own
#     rule (tps_prob without remasking)
SUDR6F="python -m remedi.eval --data data/sudoku50r/test.jsonl --limit 1000 --gen-length 96 --batch-size 100 --seed 0
        --answer-format sudoku --no-detection --trajectory-index 0 --model out/sudoku-r4-mdm --steps 96"
$SUDR6F --sources tps_entropy --remask-modes on --block-lengths 32 --out runs/sudoku-r6-test-full-blocks32-entropy-remask
$SUDR6F --sources tps_prob --remask-modes off --block-lengths 32 8 --out runs/sudoku-r6-test-full-blocks-prob
python scripts/sudoku_report.py --data data/sudoku50r/test.jsonl --baseline "tps_entropy + remask" \
  --runs runs/sudoku-r6-test-full-entropy-remask "runs/sudoku-r6-test-full-ups:RL UPS, mixed puzzles (ups/)" \
  runs/sudoku-r6-test-full-blocks32-entropy-remask runs/sudoku-r6-test-full-blocks-prob \
  --out runs/sudoku-r6-full-blocks-report.md
SUDR6H="python -m remedi.eval --data data/sudoku40u/test.jsonl --limit 200 --gen-length 96 --batch-size 100 --seed 0
        --answer-format sudoku --no-detection --trajectory-index 0 --model out/sudoku-r4-mdm --remask-modes on"
$SUDR6H --sources tps_entropy --steps 96 --out runs/sudoku-r6-hard40-entropy-remask
$SUDR6H --ups out/sudoku-r6-rl-best/ups --sources ups --steps 96 --out runs/sudoku-r6-hard40-ups
$SUDR6H --sources tps_entropy --steps 24 12 --out runs/sudoku-r6-hard40-entropy-remask-24-12
$SUDR6H --ups out/sudoku-r6-rl-best/ups --sources ups --steps 24 12 --out runs/sudoku-r6-hard40-ups-24-12
python scripts/sudoku_report.py --data data/sudoku40u/test.jsonl --baseline "tps_entropy + remask" \
  --runs runs/sudoku-r6-hard40-entropy-remask runs/sudoku-r6-hard40-entropy-remask-24-12 \
  "runs/sudoku-r6-hard40-ups:RL UPS, mixed puzzles (ups/)" "runs/sudoku-r6-hard40-ups-24-12:RL UPS, mixed puzzles (ups/)" \
  --out runs/sudoku-r6-hard40-report.md

# 8. Confidence-threshold parallel decoding with the shipped model: a threshold grid for LLaDA's rule (tps_prob)
#    and for UPS + remask on the validation split, then on the 1000 test problems, with the UPS policy's fixed
#    8- and 4-step budgets as reference points; scripts/threshold_report.py chooses each rule's threshold on
#    validation (margin 0.5 points, the rule fixed before the test runs; margin 1, the claim's own) and writes
#    the test tables and the accuracy-vs-forward-passes figure (rings: the margin-0.5 choices).
THR="python -m remedi.eval --gen-length 32 --batch-size 100 --seed 0 --answer-format strict --no-detection --limit 0
     --trajectory-search 1"
TPS_GRID="--sources tps_prob --remask-modes off --steps 1/1 --thresholds none 0.99 0.95 0.9 0.8 0.7 0.5"
$THR --data data/arith/val.jsonl $TPS_GRID --out runs/threshold-val-tps
$THR --data data/arith/val.jsonl --sources ups --remask-modes on --steps 1/1 --thresholds 0.9 0.7 0.5 0.3 0.2 0.1 \
  --out runs/threshold-val-ups
$THR --data data/arith/test.jsonl $TPS_GRID --out runs/threshold-test-tps
$THR --data data/arith/test.jsonl --sources ups --remask-modes on --steps 1/1 --thresholds 0.7 0.5 0.3 0.2 0.1 \
  --out runs/threshold-test-ups
$THR --data data/arith/test.jsonl --sources ups --remask-modes on --steps 8 4 --out runs/threshold-test-ups-fixed
THR_RUNS="--val runs/threshold-val-tps runs/threshold-val-ups
          --test runs/threshold-test-tps runs/threshold-test-ups runs/threshold-test-ups-fixed"
python scripts/threshold_report.py $THR_RUNS --margin 1 --out runs/threshold-report-margin1.md
python scripts/threshold_report.py $THR_RUNS --margin 0.5 --out runs/threshold-report.md \
  --figure paper/generated/threshold_passes.png
# 8b. Stop at EOS: 40 answer tokens in blocks of 8, where the model writes on after its EOS.
EOS="python -m remedi.eval --data data/arith/val.jsonl --limit 200 --gen-length 40 --block-lengths 8 --steps 1/1
     --batch-size 100 --seed 0 --answer-format strict --no-detection --trajectory-search 1 --sources tps_prob ups
     --remask-modes off on"
$EOS --out runs/eos-val-full
$EOS --stop-at-eos --out runs/eos-val-stop

# 9. The block-causal arithmetic model (models/remedi-tiny-arith-blockcausal): the section-2 recipe with the
#    block-causal layout (4 blocks of 8), then the side-by-side evaluation and its threshold grid with the exact cache.
ARITH="python SMDM/pretrain/train_mdm.py --mode sft --data data/arith/train.jsonl --val-data data/arith/val.jsonl
       --prompt-column question --response-column answer --seq-len 81 --micro-batch-size 64 --seed 0 --val-batches 4"
$ARITH --objective mdm --max-steps 1600 --lr 2e-3 --weight-decay 0.01 --warmup-steps 100 --val-every 400 \
  --save-every 400 --attention-layout block_causal --attention-block-length 8 --out-dir out/arith-mdm-bc-full
$ARITH --objective remask_sft --train ups --ups-arch mlp --model-path out/arith-mdm-bc-full --r-incorrect 0.3 \
  --ups-label-smoothing 0.1 --replacement batch --max-steps 600 --lr 3e-3 --warmup-steps 50 --val-every 200 \
  --save-every 200 --out-dir out/arith-ups-bc-full
BLK="python -m remedi.eval --gen-length 32 --batch-size 100 --seed 0 --answer-format strict --no-detection --limit 1000
     --data data/arith/test.jsonl --block-lengths 8 --steps 32 16 8 --model out/arith-ups-bc-full --kv-cache none exact"
$BLK --sources tps_prob --remask-modes off --out runs/bcfull-tps
$BLK --sources ups --remask-modes on --out runs/bcfull-ups
BCTHR="python -m remedi.eval --gen-length 32 --batch-size 100 --seed 0 --answer-format strict --no-detection --limit 0
       --block-lengths 8 --model out/arith-ups-bc-full --kv-cache exact --steps 32"
$BCTHR --data data/arith/val.jsonl --sources tps_prob --remask-modes off --thresholds none 0.99 0.95 0.9 0.8 0.7 \
  --out runs/bcfull-thr-val-tps
$BCTHR --data data/arith/val.jsonl --sources ups --remask-modes on --thresholds 0.9 0.7 0.5 0.3 --out runs/bcfull-thr-val-ups
$BCTHR --data data/arith/test.jsonl --sources tps_prob --remask-modes off --thresholds none 0.99 0.95 0.9 \
  --out runs/bcfull-thr-test-tps
$BCTHR --data data/arith/test.jsonl --sources ups --remask-modes on --thresholds 0.9 0.7 --out runs/bcfull-thr-test-ups
python scripts/threshold_report.py --val runs/bcfull-thr-val-tps runs/bcfull-thr-val-ups \
  --test runs/bcfull-thr-test-tps runs/bcfull-thr-test-ups --margin 0.5 --out runs/bcfull-threshold-report.md
