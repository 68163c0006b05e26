"""Sampling: the reverse process (`sampling.generate`), the forward passes it runs with or without a KV cache
(`step_runner`), threshold decoding (`parallel_decoding`), the stochastic policies Remask RL samples from
(`policy`) and readable traces (`trace`)."""
