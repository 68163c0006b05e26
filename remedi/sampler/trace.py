"""Readable summaries of the sampler's per-step trace (`generate(..., return_trace=True)`).

Here rather than in an entry point, so that generate.py and chat.py print the same lines without one
script importing another.
"""


def summarise_trace(trace):
    """One line per block: masked count after each step and tokens sent back to [MASK] (first prompt of the
    batch), then one line of totals over the whole batch."""
    lines = []
    for block in sorted({r["block"] for r in trace}):
        records = [r for r in trace if r["block"] == block]
        masked = " ".join(str(r["masked_count"][0]) for r in records)
        remasked = " ".join(str(len(r["remasked"][0])) for r in records)
        lines.append(f"block {block}: masked after each step [{masked}] | remasked per step [{remasked}]")
    total = sum(len(row) for r in trace for row in r["remasked"])
    lines.append(f"{trace[0]['confidence_source']} confidence, remask={trace[0]['remask']}, "
                 f"{total} tokens remasked in {len(trace)} steps")
    return "\n".join(lines)
