"""app.py end to end: a real server, driven by headless Chromium through Playwright.

Needs Debian's chromium (`apt-get install -y chromium`) and the `playwright` package; the browser is the
system one, never one that Playwright downloads. Skipped, saying why, when either is missing.
"""

import contextlib
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


@contextlib.contextmanager
def running_app(log_path, *flags):
    """app.py on a free port with `flags`, its output in `log_path`; yields its URL."""
    port = free_port()
    log = open(log_path, "w+")
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"}
    process = subprocess.Popen([sys.executable, os.path.join(ROOT, "app.py"), "--port", str(port), *flags],
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


@pytest.fixture()
def server(tmp_path):
    with running_app(tmp_path / "app.log", "--max-gen-length", "64", "--max-steps", "64") as url:
        yield url


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
            page.wait_for_function("document.querySelector('#status').innerText.includes('block_length=5')")

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


EXAMPLE = "Compute 7 - 3 + 5 - 8 + 2."


def text_of(page, elem_id):
    return page.locator(f"#{elem_id}").inner_text()


def wait_for_text(page, elem_id, fragment, timeout=60_000):
    page.wait_for_function("([id, text]) => document.getElementById(id)?.innerText.includes(text)",
                           arg=[elem_id, fragment], timeout=timeout)


def test_page_shows_confidences_limits_scope_and_survives_stop(tmp_path):
    log_path = tmp_path / "app.log"
    with running_app(log_path) as url, sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1100})
            page.goto(url)
            page.get_by_text("Ready: type a prompt").wait_for(timeout=60_000)
            assert "trained only on chains of four additions" in page.inner_text("body")

            page.get_by_text(EXAMPLE, exact=True).click()  # gr.Examples fills the prompt
            page.wait_for_function("text => document.querySelector('#prompt textarea').value == text", arg=EXAMPLE)
            wait_for_text(page, "settings-check", "OK: prompt 49 tokens + answer 32 = 81 of the model's 512")

            # Too long for the 512-token context with a 32-token answer: flagged before any click, and kept.
            page.locator("#prompt textarea").fill("1 + " * 120)
            wait_for_text(page, "settings-check", "more than the model's context of 512 tokens")
            page.locator("#generate").click()
            wait_for_text(page, "status", "more than the model's context of 512 tokens")
            time.sleep(2)
            assert "more than the model's context" in text_of(page, "settings-check")
            assert "more than the model's context" in text_of(page, "status")

            page.locator("#prompt textarea").fill(EXAMPLE)
            set_number(page, "block-length", 16)
            set_number(page, "steps", 31)  # two blocks need an even number of steps
            wait_for_text(page, "settings-check", "steps=31 is not divisible by the number of blocks (2")
            page.locator("#generate").click()
            wait_for_text(page, "status", "steps=31 is not divisible by the number of blocks (2")
            set_number(page, "steps", "")  # half-typed numbers are flagged too, not Gradio range errors
            wait_for_text(page, "settings-check", "The steps must be a whole number.")
            set_number(page, "steps", -5)
            wait_for_text(page, "settings-check", "Use 1-256 answer tokens and 1-256 steps.")
            set_number(page, "steps", 8)
            wait_for_text(page, "settings-check", "OK:")

            page.locator("#generate").click()
            page.wait_for_function("document.querySelector('#answer textarea').value.length > 0", timeout=180_000)
            tokens = page.locator("#step-view span.tok")
            assert tokens.count() == 32
            shades = tokens.evaluate_all("spans => spans.map(s => getComputedStyle(s).backgroundColor)")
            assert len(set(shades)) > 2, shades  # confidence sets the colour intensity
            assert all(tokens.nth(i).get_attribute("data-confidence") for i in range(32))
            assert "ups confidence 0." in tokens.first.get_attribute("title")
            faded = page.locator("#step-view span[data-past-end]")  # <|eot_id|> and what follows
            assert faded.count() > 0 and float(faded.first.evaluate("s => getComputedStyle(s).opacity")) < 1

            set_number(page, "step-slider", 0)
            page.wait_for_function("document.querySelectorAll('#step-view span.tok-masked').length == 32")
            white_space = page.locator("#step-view span.tok-masked").first.evaluate(
                "s => getComputedStyle(s).whiteSpace")
            assert white_space == "nowrap"
            remasked = 0
            for step in range(1, 9):  # the legend's masked count includes remasked tokens, as the plot does
                set_number(page, "step-slider", step)
                page.wait_for_function(f"document.querySelectorAll('#step-view span.tok-masked').length "
                                       f"+ document.querySelectorAll('#step-view span.tok-remasked').length "
                                       f"== {32 - 4 * step}")
                assert page.locator("#step-view .legend-masked").inner_text() == f"masked {32 - 4 * step}"
                remasked += page.locator("#step-view span.tok-remasked").count()
            assert remasked > 0

            # Stop halfway: the answer so far and the steps that ran stay on the page.
            for elem_id in ("steps", "gen-length", "block-length"):
                set_number(page, elem_id, 256)
            wait_for_text(page, "settings-check", "OK:")
            page.locator("#generate").click()
            page.wait_for_function("(document.querySelector('#status').innerText.match(/Step (\\d+)\\/256/) "
                                   "|| [0, 0])[1] >= 3", timeout=60_000)
            page.locator("#stop").click()
            wait_for_text(page, "status", "Stopped after step")
            done = int(text_of(page, "status").split("Stopped after step ")[1].split(".")[0])
            assert 3 <= done < 256
            assert "_" in page.locator("#answer textarea").input_value()
            assert page.locator("#step-slider input[type=range]").get_attribute("max") == str(done)
            set_number(page, "step-slider", 1)
            page.wait_for_function("document.querySelector('#step-view .legend-masked').innerText == 'masked 255'")
        finally:
            browser.close()
    log = log_path.read_text()
    assert "Traceback" not in log, log  # the user's mistakes above became messages, not server errors
