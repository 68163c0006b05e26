"""The Gradio demo under load: throughput, latency, refusals and the server's memory, wave after wave.

Starts `app.py` on a free local port (a subprocess this script owns and always stops), then sends
waves of concurrent requests through `gradio_client`, each from a new client (a new visitor, whose
session ends when its client closes): the default prompt, ups + remask, 32 steps. After each wave it
prints requests/s, p50/p95 latency, refusals (queue full), wrong answers and the server's resident
memory (VmRSS). The acceptance check: after the warm-up waves, RSS may grow by at most
--max-growth-mib over the measured requests (the target: <= 50 MiB over 500 requests).

    nice -n 10 python bench/bench_app.py                          # 2 warm-up waves, then 32 waves of 16
    python bench/bench_app.py --waves 3 --concurrency 8 --warmup 1
"""

import argparse
import concurrent.futures
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

from gradio_client import Client

from remedi.cli import positive_float, positive_int, run_cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROMPT = "Compute 7 - 3 + 5 - 8 + 2."
EXPECTED_ANSWER = "7-3=4\n4+5=9\n9-8=1\n1+2=3\n#### 3"  # worked by hand
# The Generate button's inputs: prompt, steps, answer length, block length, temperature, CFG scale,
# confidence source, remask, seed, KV cache.
SETTINGS = (PROMPT, 32, 32, 32, 0.0, 0.0, "ups", True, 0, "none")
ANSWER_OUTPUT = 2  # view, plot, answer, status, step slider: the API leaves out the State


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def resident_mib(pid):
    """The process's resident set (VmRSS) in MiB, as the kernel counts it."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def start_app(port, log, app_args, startup_seconds=180):
    """app.py listening on `port`, once its page answers; its output goes to `log`."""
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"}
    process = subprocess.Popen([sys.executable, os.path.join(ROOT, "app.py"), "--port", str(port), *app_args],
                               cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + startup_seconds
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"app.py exited with {process.returncode} before it answered; see {log.name}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2)
            return process
        except OSError:
            if time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"app.py did not answer within {startup_seconds} s; see {log.name}")
            time.sleep(0.5)


def stop_app(process):
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def one_request(url):
    """(seconds, answer or None if the queue was full) for one new visitor pressing Generate."""
    client = Client(url, verbose=False, analytics_enabled=False)
    try:
        start = time.perf_counter()
        try:
            outputs = client.predict(*SETTINGS, api_name="/run_on_page")
        except Exception as error:  # gradio_client raises a bare AppError/Exception for a full queue
            if "Queue is full" in str(error):
                return time.perf_counter() - start, None
            raise
        return time.perf_counter() - start, outputs[ANSWER_OUTPUT]
    finally:
        client.close()


def run_wave(url, concurrency):
    """Results of `concurrency` simultaneous requests, and the wave's wall-clock seconds."""
    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(lambda _: one_request(url), range(concurrency)))
    return results, time.perf_counter() - start


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def bench(waves, concurrency, warmup, app_args, log):
    """Runs the load and prints one row per wave; returns (RSS after warm-up, RSS after the last wave,
    measured requests, wrong answers)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    process = start_app(port, log, app_args)
    try:
        print(f"app.py pid {process.pid} on {url}; RSS at start {resident_mib(process.pid):.0f} MiB")
        print(f"{'wave':>6} {'req':>4} {'req/s':>6} {'p50 s':>6} {'p95 s':>6} {'refused':>7} {'wrong':>5} "
              f"{'RSS MiB':>8}")
        baseline, rss, measured, wrong_total = None, None, 0, 0
        for wave in range(warmup + waves):
            results, seconds = run_wave(url, concurrency)
            answered = [answer for _, answer in results if answer is not None]
            wrong = sum(answer != EXPECTED_ANSWER for answer in answered)
            latencies = [latency for latency, answer in results if answer is not None]
            rss = resident_mib(process.pid)
            label = f"w{wave + 1}" if wave < warmup else str(wave - warmup + 1)
            p50, p95 = (percentile(latencies, 0.5), percentile(latencies, 0.95)) if latencies else (0, 0)
            print(f"{label:>6} {len(results):>4} {len(answered) / seconds:>6.2f} {p50:>6.2f} {p95:>6.2f} "
                  f"{len(results) - len(answered):>7} {wrong:>5} {rss:>8.1f}", flush=True)
            if wave < warmup:
                baseline = rss
            else:
                measured += len(results)
                wrong_total += wrong
        return baseline, rss, measured, wrong_total
    finally:
        stop_app(process)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--waves", type=positive_int, default=32, help="measured waves, after the warm-up")
    parser.add_argument("--concurrency", type=positive_int, default=16, help="simultaneous requests per wave")
    parser.add_argument("--warmup", type=positive_int, default=2,
                        help="waves before the memory baseline is taken (at least 1)")
    parser.add_argument("--max-growth-mib", type=positive_float, default=50.0,
                        help="most RSS growth allowed from the end of the warm-up to the last wave")
    parser.add_argument("--log", default=os.path.join(tempfile.gettempdir(), "bench_app.log"),
                        help="where the server's own output goes")
    parser.add_argument("app_args", nargs="*", help="more app.py options, after --")
    args = parser.parse_args(argv)
    with open(args.log, "w") as log:
        try:
            baseline, final, measured, wrong = bench(args.waves, args.concurrency, args.warmup, args.app_args, log)
        except RuntimeError as error:
            sys.exit(f"error: {error}")
    growth = final - baseline
    verdict = "PASS" if growth <= args.max_growth_mib and wrong == 0 else "FAIL"
    print(f"memory check: RSS {baseline:.1f} MiB after {args.warmup} warm-up wave(s) -> {final:.1f} MiB after "
          f"{measured} more requests: {growth:+.1f} MiB (limit {args.max_growth_mib:g}); wrong answers {wrong}: "
          f"{verdict}")
    sys.exit(0 if verdict == "PASS" else 1)


if __name__ == "__main__":
    run_cli(main)
