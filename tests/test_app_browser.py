"""app.py end to end: a real server, driven by headless Chromium through Playwright.

Needs Debian's chromium (`apt-get install -y chromium`) and the `playwright` package; the browser is the
system one, never one that Playwright downloads. Skipped, saying why, when either is missing.

Every wait is keyed on the page state the next step needs and fails naming it. The app and the browser
compete for the CPU with whatever else runs: REMEDI_TEST_WAIT_SCALE=3 triples every timeout on a
machine that is known to be busy.
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
WAIT_SCALE = float(os.environ.get("REMEDI_TEST_WAIT_SCALE", "1"))
PAGE_REACTS_S = 60  # a handler without model work (the settings check, the slider, Stop)
GENERATION_S = 180  # a whole run of the tiny model, CPU-bound

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
        deadline = time.monotonic() + 180 * WAIT_SCALE
        while True:
            if process.poll() is not None:
                log.seek(0)
                pytest.fail(f"app.py exited with {process.returncode}:\n{log.read()}")
            try:
                urllib.request.urlopen(url, timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"app.py did not answer within {180 * WAIT_SCALE:.0f} s")
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


def wait_until(page, condition, what, arg=None, seconds=PAGE_REACTS_S):
    """Wait for the JavaScript `condition` and return its truthy value; on timeout fail naming `what` and
    showing the status line and the settings check, so a failure says which state never came and what the
    page showed instead. Read what the test checks from the returned value: Gradio re-renders a Markdown
    output when its event completes, so reading the element again a moment later can find it empty."""
    try:
        return page.wait_for_function(condition, arg=arg, timeout=seconds * WAIT_SCALE * 1000).json_value()
    except sync_api.TimeoutError:
        shown = {elem_id: page.evaluate("id => document.getElementById(id)?.innerText", elem_id)
                 for elem_id in ("status", "settings-check")}
        pytest.fail(f"no {what} after {seconds * WAIT_SCALE:.0f} s; the page shows {shown}", pytrace=False)


def wait_for_text(page, elem_id, fragment, seconds=PAGE_REACTS_S):
    """The text of #elem_id once it contains `fragment`."""
    return wait_until(page, "([id, text]) => { const shown = document.getElementById(id)?.innerText; "
                            "return shown?.includes(text) && shown; }",
                      f"{fragment!r} in #{elem_id}", arg=[elem_id, fragment], seconds=seconds)


def wait_until_ready(page):
    """Text typed while Gradio is still mounting its components can be wiped; the app's load event says
    when it is done."""
    wait_for_text(page, "status", "Ready: type a prompt")


def wait_for_answer(page):
    wait_until(page, "document.querySelector('#answer textarea').value.length > 0", "answer in #answer",
               seconds=GENERATION_S)


def wait_for_masked(page, count):
    """Until the step view shows `count` masked tokens, remasked ones included (the slider has moved)."""
    wait_until(page, "n => document.querySelectorAll('#step-view span.tok-masked').length "
                     "+ document.querySelectorAll('#step-view span.tok-remasked').length == n",
               f"step view with {count} masked tokens", arg=count)


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
            wait_until_ready(page)
            # Every text the status line shows, so the test can tell streaming from one final update.
            page.evaluate("""() => { window.statuses = new Set();
                new MutationObserver(() => window.statuses.add(document.querySelector('#status')?.innerText))
                    .observe(document.body, {subtree: true, childList: true, characterData: true}); }""")
            page.locator("#prompt textarea").fill("Compute 48 + 37 - 12.")

            set_number(page, "block-length", 5)  # 32 answer tokens do not split into blocks of 5
            page.locator("#generate").click()
            wait_for_text(page, "status", "is not divisible by block_length=5")

            set_number(page, "block-length", 16)
            page.locator("#generate").click()
            wait_for_answer(page)
            view = page.locator("#step-view")
            wait_for_text(page, "status", "Step 32/32")
            assert view.locator("span.tok-masked").count() == 0 and view.locator("span.tok-filled").count() > 0
            statuses = page.evaluate("[...window.statuses].filter(s => s && s.startsWith('Step'))")
            assert len(statuses) > 2, statuses
            page.screenshot(path=os.path.join(shots, "final.png"), full_page=True)

            set_number(page, "step-slider", 0)  # scrub back: nothing decided yet
            wait_for_masked(page, 32)
            set_number(page, "step-slider", 5)  # one token per step in a 16-token block
            wait_for_masked(page, 27)
            assert view.locator("span.tok-filled").count() > 0
            page.screenshot(path=os.path.join(shots, "step5.png"), full_page=True)
        finally:
            browser.close()
    print(f"screenshots in {shots}")


EXAMPLE = "Compute 7 - 3 + 5 - 8 + 2."


def test_page_shows_confidences_limits_scope_and_survives_stop(tmp_path):
    log_path = tmp_path / "app.log"
    with running_app(log_path) as url, sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1100})
            page.goto(url)
            wait_until_ready(page)
            assert "trained only on chains of four additions" in page.inner_text("body")

            page.get_by_text(EXAMPLE, exact=True).click()  # gr.Examples fills the prompt
            wait_until(page, "text => document.querySelector('#prompt textarea').value == text",
                       "example in #prompt", arg=EXAMPLE)
            wait_for_text(page, "settings-check", "OK: prompt 49 tokens + answer 32 = 81 of the model's 512")

            # Too long for the 512-token context with a 32-token answer: flagged before any click, and kept.
            page.locator("#prompt textarea").fill("1 + " * 120)
            wait_for_text(page, "settings-check", "more than the model's context of 512 tokens")
            page.locator("#generate").click()
            wait_for_text(page, "status", "more than the model's context of 512 tokens")
            time.sleep(2)  # nothing overwrites either message meanwhile (an overwrite would not come back)
            wait_for_text(page, "settings-check", "more than the model's context", seconds=5)
            wait_for_text(page, "status", "more than the model's context", seconds=5)

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
            wait_for_text(page, "settings-check", "2 block(s) of 16 tokens, 8 steps.")

            page.locator("#generate").click()
            wait_for_answer(page)
            tokens = page.locator("#step-view span.tok")
            assert tokens.count() == 32
            shades = tokens.evaluate_all("spans => spans.map(s => getComputedStyle(s).backgroundColor)")
            assert len(set(shades)) > 2, shades  # confidence sets the colour intensity
            assert all(tokens.nth(i).get_attribute("data-confidence") for i in range(32))
            assert "ups confidence 0." in tokens.first.get_attribute("title")
            faded = page.locator("#step-view span[data-past-end]")  # <|eot_id|> and what follows
            assert faded.count() > 0 and float(faded.first.evaluate("s => getComputedStyle(s).opacity")) < 1

            set_number(page, "step-slider", 0)
            wait_for_masked(page, 32)
            white_space = page.locator("#step-view span.tok-masked").first.evaluate(
                "s => getComputedStyle(s).whiteSpace")
            assert white_space == "nowrap"
            remasked = 0
            for step in range(1, 9):  # the legend's masked count includes remasked tokens, as the plot does
                set_number(page, "step-slider", step)
                wait_for_masked(page, 32 - 4 * step)
                assert page.locator("#step-view .legend-masked").inner_text() == f"masked {32 - 4 * step}"
                remasked += page.locator("#step-view span.tok-remasked").count()
            assert remasked > 0

            # Stop halfway: the answer so far and the steps that ran stay on the page.
            for elem_id in ("steps", "gen-length", "block-length"):
                set_number(page, elem_id, 256)
            wait_for_text(page, "settings-check", "OK: prompt 49 tokens + answer 256 = 305 of the model's 512; "
                                                  "1 block(s) of 256 tokens, 256 steps.")
            page.locator("#generate").click()
            wait_until(page, "(document.querySelector('#status').innerText.match(/Step (\\d+)\\/256/) "
                             "|| [0, 0])[1] >= 3", "step 3 of 256 in #status", seconds=GENERATION_S)
            page.locator("#stop").click()
            stopped = wait_for_text(page, "status", "Stopped after step")
            done = int(stopped.split("Stopped after step ")[1].split(".")[0])
            assert 3 <= done < 256
            assert "_" in page.locator("#answer textarea").input_value()
            assert page.locator("#step-slider input[type=range]").get_attribute("max") == str(done)
            set_number(page, "step-slider", 1)
            wait_until(page, "document.querySelector('#step-view .legend-masked').innerText == 'masked 255'",
                       "'masked 255' in the legend of step 1")
        finally:
            browser.close()
    log = log_path.read_text()
    assert "Traceback" not in log, log  # the user's mistakes above became messages, not server errors
