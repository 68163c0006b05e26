"""Checking and timing the LLaDA-8B path on one device: what scripts/gpu_check.py runs, part by part."""
