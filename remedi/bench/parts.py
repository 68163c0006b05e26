"""The four parts of gpu_check in their order, and running one of them into the report."""

import time
import traceback
from functools import partial

from remedi.bench.measure import allocated_gib, release
from remedi.bench.model_checks import part_forward, part_model
from remedi.bench.record import Skipped
from remedi.bench.sampler_checks import part_sampler
from remedi.bench.trainer_checks import part_trainer

PART_NAMES = ("model", "forward", "sampler", "trainer")
PARTS = {"model": part_model, "forward": part_forward, "sampler": part_sampler, "trainer": part_trainer}


def run_part(report, name, preset, device, state):
    """One part; an exception outside its checks (in its own setup) is recorded as the part's error."""
    print(f"gpu_check: part {name}", flush=True)
    report.begin_part(name)
    start = time.perf_counter()
    try:
        PARTS[name](preset, device, state, partial(report.check, name))
        result = {"status": "ok"}
    except Skipped as reason:
        result = {"status": "skipped", "reason": str(reason)}
    except Exception as error:
        result = {"status": "error", "error": f"{type(error).__name__}: {error}", "traceback": traceback.format_exc()}
    release(device)
    result.update(seconds=round(time.perf_counter() - start, 3), memory_allocated_after_gib=allocated_gib(device))
    report.end_part(name, result)
