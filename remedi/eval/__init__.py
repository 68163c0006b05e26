"""Evaluation: answer accuracy per sampler setting, UPS detection, schedules, trajectories, latency
(`python -m remedi.eval --help`), and LLaDA's likelihood evaluation (`likelihood`, and `lm_eval_harness`, the
lm-evaluation-harness model that eval_llada.py registers). Grading itself lives in remedi.grading."""
