"""Evaluation suite: answer accuracy per sampler setting, UPS detection, schedules, trajectories, latency.

Run it with `python -m remedi.eval --help`; the modules are importable on their own (answers, stats,
detection, runner, plots, trajectory).
"""
