"""app.py end to end: a real server, driven by headless Chromium through Playwright.

Needs Debian's chromium (`apt-get install -y chromium`) and the `playwright` package; the browser is the
system one, never one that Playwright downloads. Skipped, saying why, when either is missing.
"""

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

if not os.path.exists(CHROMIUM):
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install -y chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture()
def server(tmp_path):
    port = free_port()
    log = open(tmp_path / "app.log", "w+")
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"}
    process = subprocess.Popen([sys.executable, os.path.join(ROOT, "app.py"), "--port", str(port),
                                "--max-gen-length", "64", "--max-steps", "64"],
                               cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 180
        while True:
            if process.poll() is not None:
                log.seek(0)
                pytest.fail(f"app.py exited with {process.returncode}:\n{log.read()}")
            try:
                urllib.request.urlopen(url, timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("app.py did not answer within 180 s")
                time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def set_number(page, elem_id, value):
    box = page.locator(f"#{elem_id} input[type=number]")
    box.fill(str(value))
    box.press("Enter")


def test_page_streams_the_denoising_and_reports_bad_settings(server):
    shots = tempfile.mkdtemp(prefix="remedi-app-")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1100})
            page.goto(server)
            # Text typed while Gradio is still mounting its components can be wiped; the app's load event
            # says when it is done.
            page.get_by_text("Ready: type a prompt").wait_for(timeout=60_000)
            # Every text the status line shows, so the test can tell streaming from one final update.
            page.evaluate("""() => { window.statuses = new Set();
                new MutationObserver(() => window.statuses.add(document.querySelector('#status')?.innerText))
                    .observe(document.body, {subtree: true, childList: true, characterData: true}); }""")
            page.locator("#prompt textarea").fill("Compute 48 + 37 - 12.")

            set_number(page, "block-length", 5)  # 32 answer tokens do not split into blocks of 5
            page.locator("#generate").click()
            page.get_by_text("is not divisible by block_length=5").first.wait_for(timeout=60_000)

            set_number(page, "block-length", 16)
            page.locator("#generate").click()
            page.wait_for_function("document.querySelector('#answer textarea').value.length > 0", timeout=180_000)
            view = page.locator("#step-view")
            assert "Step 32/32" in page.locator("#status").inner_text()
            assert view.locator("span.tok-masked").count() == 0 and view.locator("span.tok-filled").count() > 0
            statuses = page.evaluate("[...window.statuses].filter(s => s && s.startsWith('Step'))")
            assert len(statuses) > 2, statuses
            page.screenshot(path=os.path.join(shots, "final.png"), full_page=True)

            set_number(page, "step-slider", 0)  # scrub back: nothing decided yet
            page.wait_for_function("document.querySelectorAll('#step-view span.tok-masked').length == 32")
            set_number(page, "step-slider", 5)  # one token per step in a 16-token block
            page.wait_for_function("document.querySelectorAll('#step-view span.tok-masked').length < 32")
            masked = view.locator("span.tok-masked").count() + view.locator("span.tok-remasked").count()
            assert masked == 27 and view.locator("span.tok-filled").count() > 0
            page.screenshot(path=os.path.join(shots, "step5.png"), full_page=True)
        finally:
            browser.close()
    print(f"screenshots in {shots}")
