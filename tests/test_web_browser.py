"""The dashboard in a real browser: `aiv serve` on a seeded store, driven by headless Debian Chromium via Playwright.

Each page is opened on a desktop and a phone viewport: its content is checked, the charts must
have been drawn by plotly.js, the console must stay free of errors (a CSP violation is one), and a
screenshot is saved under test-artifacts/screenshots/. The previews must load and play.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from web_seed import seed_hostile

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian Chromium (/usr/bin/chromium) is absent; `make test` installs it with apt-get"
)
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "screenshots"
VIEWPORTS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}
WAIT_MS = 30_000  # a guard against a hung page, not a speed requirement


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`aiv serve` as a real subprocess on a free port, over a store with previews, AWS states and hostile text."""
    store = seed_hostile(tmp_path_factory.mktemp("browser"), aws_states=True, previews=True)
    ids = dict(store.ids)
    store.close()
    process = subprocess.Popen(
        [sys.executable, "-m", "aiv.cli", "serve", "--store", str(store.path), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = process.stdout.readline()
    match = re.search(r"at (http://127\.0\.0\.1:\d+)/", line)
    if not match:
        process.kill()
        pytest.fail(f"aiv serve did not start: {line!r} {process.stderr.read()}")
    yield match.group(1), ids
    process.terminate()
    process.wait(timeout=30)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield launched
        launched.close()


@pytest.fixture(params=list(VIEWPORTS))
def tab(request, browser):
    """A fresh page on one viewport, recording console errors, uncaught exceptions and dialogs."""
    context = browser.new_context(viewport=VIEWPORTS[request.param])
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    page.problems, page.dialogs, page.viewport_name = [], [], request.param
    page.on("console", lambda message: message.type == "error" and page.problems.append(message.text))
    page.on("pageerror", lambda error: page.problems.append(str(error)))
    page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))
    yield page
    context.close()


def open_page(tab, url: str, name: str) -> None:
    """Open `url`, wait until every chart block has been drawn, check the console and layout, save a screenshot."""
    response = tab.goto(url, wait_until="load")
    assert response is not None
    charts = tab.locator("script[data-chart]").count()
    if charts:
        wait_until(tab, f"document.querySelectorAll('.js-plotly-plot .main-svg').length >= {charts}")
        drawn = tab.evaluate(
            "Array.from(document.querySelectorAll('script[data-chart]'))"
            ".map(s => document.getElementById(s.dataset.chart).classList.contains('js-plotly-plot'))"
        )
        assert all(drawn), f"{name}: a chart was not drawn"
    overflow = tab.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{name} is {overflow}px wider than the {tab.viewport_name} viewport"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(SCREENSHOTS / f"{name}-{tab.viewport_name}.png"), full_page=True)
    assert tab.problems == [], f"{name}: console errors {tab.problems}"
    assert tab.dialogs == [], f"{name}: a dialog opened: {tab.dialogs}"


PAGES = [
    ("overview", "/", "Overview", 1),
    ("experiments", "/experiments", "Experiments", 0),
    ("ranked", "/experiments?sort=score", "Experiments", 0),
    ("leaderboard", "/leaderboard", "Leaderboard", 2),
    ("lineage", "/lineage", "Lineage", 0),
    ("costs", "/costs", "Costs", 1),
    ("activity", "/activity", "Activity", 0),
]


def wait_until(tab, expression: str, timeout_s: float = 30.0) -> None:
    """Poll a JavaScript expression until it is true. Playwright's wait_for_function polls with
    eval() inside the page, which the dashboard's Content-Security-Policy rightly forbids;
    evaluate() goes through the DevTools protocol instead."""
    deadline = time.monotonic() + timeout_s
    while not tab.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout_s:.0f} s: {expression}")
        time.sleep(0.1)


@pytest.mark.parametrize("name, path, heading, charts", PAGES, ids=[p[0] for p in PAGES])
def test_listing_pages(server, tab, name, path, heading, charts):
    base, _ = server
    open_page(tab, base + path, name)
    assert tab.locator("h1").inner_text() == heading
    assert tab.locator(".js-plotly-plot").count() == charts


def test_experiment_page_charts(server, tab):
    base, ids = server
    open_page(tab, f"{base}/experiments/{ids['best']}", "experiment")
    assert tab.locator("#hypothesis blockquote").inner_text().startswith("Add overlapped block motion compensation")
    traces = tab.evaluate("document.getElementById('chart-train-0-rd').data.map(t => t.name)")
    assert traces == ["candidate", f"parent {ids['claude1']}", "x264", "x265"]
    assert tab.evaluate("document.getElementById('chart-train-0-rd').layout.xaxis.type") == "log"
    assert tab.locator("#chart-train-0-frames .scatterlayer .trace").count() == 4  # one per quality point


def test_previews_load_and_play(server, tab):
    base, ids = server
    open_page(tab, f"{base}/experiments/{ids['best']}", "experiment-previews")
    videos = tab.locator("video")
    assert videos.count() == 8  # decoded and source, for each of 3 train and 1 validation clips
    wait_until(tab, "Array.from(document.querySelectorAll('video')).every(v => v.readyState >= 1)")
    facts = tab.evaluate(
        "Array.from(document.querySelectorAll('video')).map(v => [v.videoWidth, v.videoHeight, "
        "v.duration, v.error && v.error.code])"
    )
    assert all(fact == [128, 96, pytest.approx(24 / 30, abs=0.05), None] for fact in facts), facts
    tab.locator(".play-both").first.click()
    wait_until(
        tab,
        "Array.from(document.querySelectorAll('.preview-pair'))[0]"
        ".querySelectorAll('video').length === 2 && Array.from(document.querySelectorAll("
        "'.preview-pair')[0].querySelectorAll('video')).every(v => v.currentTime > 0)",
    )
    assert tab.problems == []


def test_failed_experiment_page(server, tab):
    base, ids = server
    open_page(tab, f"{base}/experiments/{ids['failed']}", "experiment-failed")
    assert "Failed at decode" in tab.locator("#failure").inner_text()
    assert "decode exited with status 0" in tab.locator("#log").inner_text()


def test_hostile_text_shows_as_text_and_runs_nothing(server, tab):
    base, ids = server
    open_page(tab, f"{base}/experiments/{ids['hostile']}", "experiment-hostile")
    assert tab.locator("#hypothesis blockquote").inner_text().startswith("<script>alert(1)</script></script>")
    assert "</script><script>alert(4)</script>" in tab.locator("#code pre.code").text_content()
    title = tab.locator("#chart-train-0-rd .gtitle").text_content()
    assert title.startswith("<script>alert(1)</script>")  # drawn literally by plotly, not as markup
    assert tab.evaluate("document.querySelectorAll('script:not([src]):not([type=\"application/json\"])').length") == 0
    open_page(tab, f"{base}/leaderboard", "leaderboard-hostile")
    open_page(tab, f"{base}/activity", "activity-hostile")


def test_not_found_page(server, tab):
    base, _ = server
    response = tab.goto(f"{base}/experiments/exp-none")
    assert response.status == 404 and "no experiment exp-none" in tab.locator(".message").inner_text()


def test_the_experiments_list_fits_the_columns_scanned_first(server, browser):
    """At 1280 px the columns up to PSNR-Y show without scrolling; at 1920 px the whole table fits."""
    base, _ = server
    for width, last_visible in ((1280, "PSNR-Y"), (1920, None)):
        context = browser.new_context(viewport={"width": width, "height": 900})
        page = context.new_page()
        page.goto(f"{base}/experiments", wait_until="load")
        scroll = page.evaluate(
            "(() => { const s = document.querySelector('.table-scroll'); return [s.scrollWidth, s.clientWidth]; })()"
        )
        if last_visible is None:
            assert scroll[0] <= scroll[1], f"the table is {scroll[0] - scroll[1]}px wider than the page at {width}px"
        else:
            right = page.evaluate(
                "Array.from(document.querySelectorAll('table.experiments thead th'))"
                f".find(th => th.textContent.startsWith('{last_visible}'))"
                ".getBoundingClientRect().right"
            )
            assert right <= width, f"{last_visible} ends at {right}px, beyond the {width}px window"
        page.screenshot(path=str(SCREENSHOTS / f"experiments-{width}.png"), full_page=True)
        context.close()


def test_overview_chart_is_scaled_from_the_best_seed(server, tab):
    base, ids = server
    open_page(tab, base + "/", "overview-progress")
    layout = tab.evaluate(
        "(() => { const l = document.getElementById('chart-best').layout; "
        "return [l.yaxis.range, l.annotations.map(a => a.text)]; })()"
    )
    low, high = layout[0]
    assert low < high and any(text.startswith("above the scale: ") and ids["intra"] in text for text in layout[1])
    assert tab.evaluate("document.getElementById('chart-best').data[1].mode") == "markers"
    assert "over the best seed" in tab.locator("#history-h + p").inner_text()


def test_lineage_tree_and_ancestry(server, tab):
    base, ids = server
    open_page(tab, base + "/lineage", "lineage-tree")
    tree = tab.locator("ul.tree")
    assert tree.locator(f"a[href='/experiments/{ids['best']}']").count() == 1
    nested = tab.evaluate(
        f"document.querySelector(\"ul.tree a[href='/experiments/{ids['best']}']\")"
        ".closest('li').parentElement.closest('li').querySelector('a').getAttribute('href')"
    )
    assert nested == f"/experiments/{ids['claude1']}"  # drawn under its parent
    open_page(tab, f"{base}/experiments/{ids['best']}#lineage", "experiment-lineage")
    ancestry = tab.locator("ol.ancestry li").all_inner_texts()
    assert ancestry[0].startswith(ids["claude1"]) and ancestry[-1].startswith(ids["hybrid"])


def test_diff_lines_sit_one_per_line(server, tab):
    base, ids = server
    open_page(tab, f"{base}/experiments/{ids['claude1']}#code", "experiment-diff")
    spans, lines = tab.evaluate(
        "(() => { const pre = document.querySelector('pre.diff'); "
        "return [pre.querySelectorAll('span').length, pre.innerText.split('\\n').length]; })()"
    )
    assert spans > 3 and lines == spans  # no blank line between two diff lines
    heights = tab.evaluate(
        "Array.from(document.querySelectorAll('pre.diff span')).slice(0, 6)"
        ".map(s => Math.round(s.getBoundingClientRect().height))"
    )
    assert max(heights) < 1.5 * min(heights), heights  # each line one line high (a hunk line adds its border)
