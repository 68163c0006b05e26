"""The record of a run of checks: each check guarded and timed, the JSON report rewritten after every one,
and the summary table printed at the end."""

import json
import time
import traceback


class Skipped(Exception):
    """A check that cannot run here (flash-attn absent, CUDA needed, an earlier part failed); not a failure."""


def guarded(check, *args):
    """Run one check: its values plus status and seconds. status: ok, failed (it ran and returned passed=False),
    skipped (it raised Skipped) or error (any other exception, recorded with its traceback)."""
    start = time.perf_counter()
    try:
        values = check(*args)
        status = "ok" if values.get("passed", True) else "failed"
    except Skipped as reason:
        values, status = {"reason": str(reason)}, "skipped"
    except Exception as error:  # an out-of-memory error too: recorded, and the next check runs
        values = {"error": f"{type(error).__name__}: {error}", "traceback": traceback.format_exc()}
        status = "error"
    return {"status": status, "seconds": round(time.perf_counter() - start, 3), **values}


class Report:
    """The JSON report, rewritten after every check so that a run cut short keeps what it measured, and one
    progress line per check on stdout (a batch job's log shows how far it got)."""

    def __init__(self, path, header):
        self.path, self.start = path, time.perf_counter()
        self.data = {**header, "parts": {}, "total_seconds": 0.0}

    def begin_part(self, part):
        self.data["parts"][part] = {"status": "running", "checks": {}}
        self.save()

    def end_part(self, part, result):
        self.data["parts"][part].update(result)
        self.save()

    def check(self, part, name, check, *args):
        """Run `check(*args)` guarded, record it as `name` in `part`; returns the record."""
        result = guarded(check, *args)
        self.data["parts"][part]["checks"][name] = result
        self.save()
        elapsed = self.data["total_seconds"]
        print(f"gpu_check [{elapsed:6.1f} s] {part} {name}: {result['status']} ({result['seconds']:.1f} s)", flush=True)
        return result

    def save(self):
        self.data["total_seconds"] = round(time.perf_counter() - self.start, 3)
        self.path.write_text(json.dumps(self.data, indent=2) + "\n")


def needs(state, key):
    if key not in state:
        raise Skipped("needs the model of part 'model', which did not load")
    return state[key]


def failures(report):
    """(part, check, status) of every part or check that failed or raised."""
    found = []
    for name, part in report["parts"].items():
        if part["status"] == "error":
            found.append((name, "", "error"))
        found += [(name, check, c["status"]) for check, c in part["checks"].items()
                  if c["status"] in ("failed", "error")]
    return found


def print_table(report):
    print(f"\ngpu_check: preset {report['preset']} on {report['device']} "
          f"({report['environment']['device_name']}), torch {report['environment']['torch']}, "
          f"CUDA {report['environment']['cuda']}, {report['environment']['date_utc']} UTC")
    print(f"{'part':8s} {'check':32s} {'status':8s} {'seconds':>8s}  result")
    for name, part in report["parts"].items():
        if part["status"] != "ok":
            print(f"{name:8s} {'':32s} {part['status']:8s} {part['seconds']:8.1f}  "
                  f"{part.get('error') or part.get('reason')}")
        for check, c in part["checks"].items():
            text = c.get("summary") or c.get("error") or c.get("reason") or ""
            print(f"{name:8s} {check:32s} {c['status']:8s} {c['seconds']:8.1f}  {text}")
    print(f"total {report['total_seconds']:.1f} s")
