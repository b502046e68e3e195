"""Pages of issue 12 in a real browser (Playwright + Debian's Chromium, a real uvicorn server).

Error pages instead of problem JSON, the compare page's LFP baseline, the dashboard's counts and
actions per role, a design's results linked both ways, job messages and design names on the
Simulations page, the favicon. The live server, browser and logged-in pages come from
``conftest.py``; screenshots go to ``/tmp/casip-shots/``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

# the live server (conftest.py) without the background demo charge jobs: the tests start the
# jobs they look at
LIVE_SETTINGS = {"demo_jobs": False}


def _reference_id(pg, live_url, reference_id: str) -> int:
    pg.goto(live_url + "/designs?q=")
    return pg.evaluate(
        """async ref => {
          const r = await fetch("/api/designs?limit=200", {headers: {Accept: "application/json"}});
          return (await r.json()).items.find(d => d.reference_id === ref).id;
        }""",
        reference_id,
    )


def _shot(pg, folder: Path, name: str) -> None:
    pg.screenshot(path=str(folder / name), full_page=True)


# ------------------------------------------------------------------ item 1: HTML error pages


@pytest.mark.parametrize(
    ("path", "status", "text"),
    [
        ("/no-such-page", 404, "there is no page at /no-such-page"),
        ("/designs/abc", 422, "design_id 'abc'"),
        ("/designs/99999999", 404, "no design with id 99999999"),
    ],
)
def test_unknown_pages_and_bad_ids_show_an_error_page(page, live_url, path, status, text, shots):
    response = page.goto(live_url + path)
    assert response.status == status
    assert response.headers["content-type"].startswith("text/html")
    assert text in page.inner_text("#error-message")
    assert page.locator("nav[aria-label=Main] a").count() >= 5  # inside the layout
    assert "about:blank" not in page.content()
    page.click("#error a[href='/designs']")
    page.wait_for_url(live_url + "/designs")
    if path == "/no-such-page":
        page.goto(live_url + path)
        _shot(page, shots, "error_404.png")
    assert not page.js_errors, page.js_errors


def test_the_api_still_answers_problem_json_in_the_browser(page, live_url):
    response = page.goto(live_url + "/api/designs/abc")
    assert response.status == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert json.loads(page.inner_text("body"))["errors"][0]["field"] == "design_id"


# ------------------------------------------------------------------ item 15: favicon


def test_the_favicon_is_found(page, live_url):
    page.bad.clear()
    page.goto(live_url + "/")
    page.wait_for_load_state("networkidle")
    assert not [b for b in page.bad if "favicon" in b], page.bad
    response = page.goto(live_url + "/favicon.ico")
    assert response.status == 200 and response.headers["content-type"] == "image/svg+xml"
    icon = page.evaluate("() => document.querySelector('svg') !== null")
    assert icon


# ------------------------------------------------------------------ item 2: compare


def test_compare_lfp_with_one_design_shows_lfp_once(page, live_url, plot_traces, shots):
    lfp = _reference_id(page, live_url, "lfp-blade")
    other = _reference_id(page, live_url, "assb-sulfide-li")
    page.goto(live_url + f"/compare?ids={lfp},{other}")
    rows = page.locator("#compare-table tbody tr:not(.target)")
    assert rows.count() == 2
    assert page.locator("#compare-table tbody tr.baseline").count() == 1
    plot_traces(page, "#compare-plot")
    traces = page.evaluate("() => document.querySelector('#compare-plot').data.map(t => t.name)")
    designs = [t for t in traces if "target" not in t]
    assert len(designs) == 2 and sum("LFP baseline" in t for t in designs) == 1, traces
    _shot(page, shots, "compare_lfp_one.png")
    assert not page.js_errors, page.js_errors


# ------------------------------------------------------------------ item 9: dashboard per role


def _card(pg) -> int:
    return int(pg.inner_text("#card-designs .value").strip())


def _listed(pg) -> int:
    m = re.search(r"(\d+) designs? you can read", pg.inner_text("#compare-form"))
    assert m
    return int(m[1])


@pytest.mark.parametrize(
    ("slug", "role", "may_run"),
    [
        ("programme-office", "viewer", False),
        ("programme-office", "admin", False),
        ("lantern", "viewer", False),
        ("basalt", "engineer", True),
    ],
)
def test_dashboard_counts_and_actions_per_role(browser_login, live_url, slug, role, may_run, shots):
    pg = browser_login(slug, role)
    try:
        shown = _card(pg)
        text = pg.inner_text("main")
        assert ("run a fast-charge" in text) is may_run
        pg.click("#card-designs .value a")
        pg.wait_for_url(live_url + "/designs")
        assert _listed(pg) == shown > 0
        if slug == "programme-office":
            assert shown >= 7  # the public reference cells
            pg.goto(live_url + "/")
            _shot(pg, shots, f"dashboard_{slug}_{role}.png")
        pg.goto(live_url + "/simulations")
        assert ("Start new ones" in pg.inner_text("main")) is may_run
        assert not pg.js_errors, pg.js_errors
    finally:
        pg.context.close()


# ------------------------------------------------- items 5 and 6: jobs and a design's results


def test_a_job_ends_with_a_done_message_and_its_design_name(page, live_url, shots):
    design = _reference_id(page, live_url, "assb-sulfide-li")
    page.goto(live_url + f"/designs/{design}")
    name = page.inner_text("h1").strip()
    page.select_option("#duty", "ev_daily")
    page.click("#run-life button[type=submit]")
    page.wait_for_selector("#job-status a:has-text('see the result')", timeout=120_000)
    assert "done: 80 % capacity after" in page.inner_text("#job-status")
    page.goto(live_url + "/simulations")
    row = page.locator("#jobs-table tbody tr").first
    row.locator("td", has_text="done:").wait_for(timeout=20_000)
    cells = row.locator("td")
    assert cells.nth(2).inner_text().strip() == name
    assert cells.nth(2).locator("a").get_attribute("href") == f"/designs/{design}"
    assert "storing the result" not in page.inner_text("#jobs-table")
    _shot(page, shots, "simulations.png")
    assert not page.js_errors, page.js_errors


def test_a_designs_page_links_its_results_both_ways(page, live_url, plot_traces, shots):
    design = _reference_id(page, live_url, "assb-sulfide-li")
    page.goto(live_url + f"/designs/{design}")
    name = page.inner_text("h1").strip()
    link = page.locator("#design-lifetimes tbody tr a").first
    assert "ev_daily" in link.inner_text()
    assert "ev daily" in page.inner_text("#design-lifetimes tbody tr")
    page.locator("#results").scroll_into_view_if_needed()
    _shot(page, shots, "design_results.png")
    link.click()
    page.wait_for_url(re.compile(r".*/simulations\?lifetime=\d+$"))
    page.wait_for_selector("#result-card:not([hidden])")
    plot_traces(page, "#result-plot")
    back = page.locator("#result-design a")
    assert back.inner_text().strip() == name
    _shot(page, shots, "lifetime_result.png")
    back.click()
    page.wait_for_url(live_url + f"/designs/{design}")
    assert not page.js_errors, page.js_errors


def test_a_consortium_designs_page_lists_results_shared_with_you(browser_login, live_url):
    """A viewer of another organisation sees the seeded lifetime result of a shared design."""
    pg = browser_login("lantern", "viewer")
    try:
        found = pg.evaluate(
            """async () => {
              const r = await fetch("/api/lifetimes?limit=200");
              const items = (await r.json()).items;
              const it = items.find(x => x.visibility === "consortium");
              return it ? [it.id, it.design_id] : null;
            }"""
        )
        assert found, "no shared lifetime result in the demo"
        lid, did = found
        pg.goto(live_url + f"/designs/{did}")
        assert pg.locator(f"#design-lifetimes a[href='/simulations?lifetime={lid}']").count() == 1
        assert pg.locator("#run").count() == 0  # a viewer is offered no simulation
        assert not pg.js_errors, pg.js_errors
    finally:
        pg.context.close()
