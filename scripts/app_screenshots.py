"""Screenshots of the Gradio demo for README: a finished default run, and the step of it that remasked most.

    python scripts/app_screenshots.py            # writes docs/app-default.png and docs/app-remask.png

Starts app.py with its defaults on a free local port and drives Debian's chromium (apt-get install -y
chromium) through Playwright, as tests/test_app_browser.py does; never run `playwright install`.
"""

import argparse
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

from remedi.cli import run_cli

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
PROMPT = "Compute 7 - 3 + 5 - 8 + 2."  # the first of the page's examples


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_serving(url, process, startup_seconds=180):
    deadline = time.monotonic() + startup_seconds
    while True:
        if process.poll() is not None:
            sys.exit(f"error: app.py exited with {process.returncode}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            if time.monotonic() > deadline:
                sys.exit(f"error: app.py did not answer within {startup_seconds} s")
            time.sleep(0.5)


def show_step(page, step):
    box = page.locator("#step-slider input[type=number]")
    box.fill(str(step))
    box.press("Enter")
    page.wait_for_function("step => document.querySelector('#step-slider input[type=number]').value == step",
                           arg=str(step))
    time.sleep(0.3)  # the view arrives from the server after the slider moves


def take(page, out_dir):
    page.get_by_text("Ready: type a prompt").wait_for(timeout=60_000)
    page.get_by_text(PROMPT, exact=True).click()
    page.wait_for_function("text => document.querySelector('#prompt textarea').value == text", arg=PROMPT)
    page.locator("#generate").click()
    page.wait_for_function("document.querySelector('#answer textarea').value.length > 0", timeout=300_000)
    time.sleep(1)  # let the last figure draw
    page.screenshot(path=out_dir / "app-default.png", full_page=True)

    steps = int(page.locator("#step-slider input[type=range]").get_attribute("max"))
    remasked = {}
    for step in range(1, steps + 1):
        show_step(page, step)
        remasked[step] = page.locator("#step-view span.tok-remasked").count()
    busiest = max(remasked, key=remasked.get)
    if remasked[busiest] == 0:
        sys.exit("error: no step of the run remasked a token; nothing to show in app-remask.png")
    show_step(page, busiest)
    page.locator("#run-view").screenshot(path=out_dir / "app-remask.png")
    print(f"step {busiest} of {steps} remasked {remasked[busiest]} tokens")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=ROOT / "docs")
    args = parser.parse_args(argv)
    if not Path(CHROMIUM).exists():
        sys.exit(f"error: no Chromium at {CHROMIUM}; install it with apt-get install -y chromium")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    process = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--port", str(port)], cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}/"
        wait_until_serving(url, process)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.goto(url)
                take(page, args.out_dir)
            finally:
                browser.close()
    finally:
        process.terminate()
        process.wait()
    for name in ("app-default.png", "app-remask.png"):
        print(f"{args.out_dir / name}: {(args.out_dir / name).stat().st_size // 1024} KB")


if __name__ == "__main__":
    run_cli(main)
