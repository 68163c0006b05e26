"""app.py under load: a visitor's session is dropped when its page goes away, and the server's memory
levels off over waves of concurrent requests (bench/bench_app.py, short)."""

import os
import re
import socket
import subprocess
import sys
import time

from gradio_client import Client

import app
from remedi.loading import load_model_and_tokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Before the fix the server grew by ~1.8 MiB per request: +28.9 MiB from the first to the third wave of 8.
MAX_GROWTH_MIB = 15


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_closed_page_drops_its_session(monkeypatch):
    monkeypatch.setenv("GRADIO_HEARTBEAT_INTERVAL", "0.2")  # how soon the server notices a page is gone
    demo = app.build_demo(*load_model_and_tokenizer(), app.Limits())
    port = free_port()
    demo.launch(server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False, analytics_enabled=False)
        answer = client.predict("Compute 7 - 3 + 5 - 8 + 2.", 8, 16, 16, 0.0, 0.0, "ups", True, 0, "none",
                                api_name="/run_on_page")[2]
        assert answer and client.session_hash in demo.state_holder.session_data  # kept while the page is open
        client.close()
        deadline = time.monotonic() + 20
        while client.session_hash in demo.state_holder.session_data and time.monotonic() < deadline:
            time.sleep(0.2)
        assert client.session_hash not in demo.state_holder.session_data
    finally:
        demo.close()


def test_memory_levels_off_over_waves_of_requests():
    result = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "bench_app.py"), "--waves", "3",
                             "--concurrency", "8", "--warmup", "1"], cwd=ROOT, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    rows = [line.split() for line in result.stdout.splitlines() if re.match(r"\s+\d+\s+8\s", line)]
    assert [row[0] for row in rows] == ["1", "2", "3"]
    assert all(row[5] == "0" and row[6] == "0" for row in rows), result.stdout  # none refused, none wrong
    first, last = float(rows[0][7]), float(rows[-1][7])
    assert last - first <= MAX_GROWTH_MIB, result.stdout
