"""Lessons, compare mode and presenter mode in the browser, against a live server.

Every number the tests compare is read from the page and checked against the API's own
answer for the same sessions (the page never computes a checkpoint itself).
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Page, expect

from engine.lessons import load_lessons
from tests.conftest import ROOT
from tests.e2e.conftest import PageWatch
from tests.e2e.test_screenshots import VIEWPORTS
from tests.e2e.test_visualiser import settled

# The lessons the page runs: dense networks (the recurrent ones are the engine's so far).
ALL_LESSONS = load_lessons([ROOT / "lessons"])
# The per-lesson browser checks below drive dense networks (compare mode, gradient flow);
# the recurrent lessons have theirs in test_recurrent_page.py.
LESSONS = [lesson for lesson in ALL_LESSONS if lesson.model == "dense"]
PRESENTER = {"width": 1280, "height": 720}
LESSON = "#lesson"
COLUMNS = "#compare .compare-column"


def open_fresh(page: Page) -> None:
    page.goto("/")
    expect(page.locator(LESSON).locator("a[data-lesson]")).to_have_count(len(ALL_LESSONS))
    settled(page)


def lesson_at(page: Page, position: int) -> None:
    """Wait until the lesson panel shows step ``position`` done and every answer is drawn."""
    expect(page.locator(LESSON)).to_have_attribute("data-position", str(position))
    expect(page.locator(LESSON)).to_have_attribute("data-running", "false")
    settled(page)


def sessions(page: Page) -> dict[str, str]:
    """The page's session of each setup, by name (A, B, …)."""
    runs = page.locator("#app").get_attribute("data-runs") or ""
    return dict(part.split("=", 1) for part in runs.split(",") if part)


def api(page: Page, path: str, **params: Any) -> Any:
    response = page.request.get(path, params=params or None)
    assert response.ok, (path, response.status, response.text())
    return response.json()


def configs_of(page: Page) -> dict[str, Any]:
    return {name: api(page, f"/api/sessions/{s}")["config"] for name, s in sessions(page).items()}


def statuses(page: Page) -> list[tuple[str, str]]:
    """(step, status text) of each compared column, left to right."""
    lines = page.locator(f"{COLUMNS} .compare-status")
    return [
        (lines.nth(k).get_attribute("data-step") or "", lines.nth(k).text_content() or "")
        for k in range(lines.count())
    ]


# Measures the API also answers directly: where each one is read from a session's own routes.
STATE_MEASURES = {"train_loss", "test_loss", "train_accuracy", "test_accuracy", "step"}


def expected_value(page: Page, session: str, measure: str) -> float | None:
    if measure in STATE_MEASURES:
        value = api(page, f"/api/sessions/{session}")["state"][measure]
        return None if value is None else float(value)
    layers = api(page, f"/api/sessions/{session}/trace")["layers"]
    first, last = layers[0]["grad_norm"], layers[-1]["grad_norm"]
    if measure == "grad_norm_first":
        return float(first)
    if measure == "grad_norm_last":
        return float(last)
    if measure == "grad_norm_ratio":
        return float(first) / float(last)
    return None  # read by the lesson route only (dead units on the whole set, noise, …)


@pytest.mark.slow  # every lesson in a browser (about a minute); CI runs it
@pytest.mark.parametrize("lesson", LESSONS, ids=[lesson.id for lesson in LESSONS])
def test_each_lesson_opens_in_one_click_and_its_first_checkpoint_shows_the_apis_numbers(
    page: Page, watch: PageWatch, lesson: Any
) -> None:
    open_fresh(page)
    page.locator(f"{LESSON} a[data-lesson='{lesson.id}']").click()  # the one click
    expect(page).to_have_url(re.compile(rf"\?lesson={lesson.id}$"))
    expect(page.locator(f"{LESSON} .lesson-title")).to_have_text(lesson.title)
    lesson_at(page, 0)
    runs = sessions(page)
    assert sorted(runs) == [setup.name for setup in lesson.setups]
    # Two setups or more are compared side by side; one alone fills the page.
    expect(page.locator(COLUMNS)).to_have_count(2 if len(lesson.setups) > 1 else 0)
    first = next(k for k, step in enumerate(lesson.steps) if step.checkpoints)
    for position in range(1, first + 2):
        page.locator(f"{LESSON} [data-action=lesson-next]").click()
        lesson_at(page, position)
    shown = page.locator(f"{LESSON} .checkpoint")
    expect(shown).to_have_count(len(lesson.steps[first].checkpoints))
    answer = api(page, f"/api/lessons/{lesson.id}/checkpoints", step=first, **runs)
    for k, reading in enumerate(answer["checkpoints"]):
        assert reading["holds"], reading["failures"]
        expect(shown.nth(k)).to_have_attribute("data-holds", "true")
        expect(shown.nth(k)).to_contain_text(reading["text"])
        # The API's numbers are the sessions' own: their state and trace say the same.
        for key, value in reading["values"].items():
            setup, measure = key.split(".")
            expected = expected_value(page, runs[setup], measure)
            if expected is not None:
                assert value == pytest.approx(expected, rel=1e-12), key
    watch.assert_clean()


def test_previous_replays_the_lesson_to_the_same_numbers(page: Page, watch: PageWatch) -> None:
    page.goto("/?lesson=exploding-gradients")
    lesson_at(page, 0)
    page.keyboard.press("n")
    lesson_at(page, 1)
    checkpoint = page.locator(f"{LESSON} .checkpoint").text_content()
    page.keyboard.press("PageDown")
    lesson_at(page, 2)
    expect(page.locator(f"{LESSON} .checkpoint")).to_have_count(0)
    page.keyboard.press("PageUp")  # replayed from step 0: same configs and seeds
    lesson_at(page, 1)
    expect(page.locator(f"{LESSON} .checkpoint")).to_have_text(checkpoint or "")
    assert [step for step, _ in statuses(page)] == ["0", "0"]
    watch.assert_clean()


def test_a_checkpoint_that_no_longer_holds_says_what_it_expected_and_found(
    page: Page, watch: PageWatch
) -> None:
    page.goto("/?lesson=dead-relus")
    lesson_at(page, 0)
    page.keyboard.press("n")
    lesson_at(page, 1)
    expect(page.locator(f"{LESSON} .checkpoint")).to_have_attribute("data-holds", "true")
    # A learner gives setup A's first layer tanh: the network is rebuilt (both setups start
    # again from step 0) and A's units are alive.
    page.get_by_label("Activation of layer 1").select_option("tanh")
    settled(page)
    assert [step for step, _ in statuses(page)] == ["0", "0"]
    warning = page.locator(f"{LESSON} .checkpoint[data-holds=false]")
    expect(warning).to_contain_text("does not hold")
    answer = api(page, "/api/lessons/dead-relus/checkpoints", step=0, **sessions(page))
    [reading] = answer["checkpoints"]
    assert not reading["holds"]
    for failure in reading["failures"]:
        expect(warning).to_contain_text(failure)
    expect(warning).to_contain_text("expected A's dead_fraction above 0.5, found")
    watch.assert_clean()


def flow_geometry(page: Page, column: int) -> dict[str, Any]:
    """A compared column's gradient-flow panel: its axis, decade gridlines and ‖dW‖ bars."""
    chart = page.locator(COLUMNS).nth(column).locator("svg.flow-bars")
    return chart.evaluate(
        """svg => ({
          axis: svg.dataset.axis,
          grid: [...svg.querySelectorAll('.axis text')].map(t => [t.textContent,
                 Number(t.previousSibling.getAttribute('y1'))]),
          bars: [...svg.querySelectorAll('.flow-bar')].map(g => ({
            value: Number(g.dataset.gradNorm),
            top: Number(g.querySelector('.bar-dw').getAttribute('y')),
            height: Number(g.querySelector('.bar-dw').getAttribute('height')),
          })),
        })"""
    )


def test_compare_mode_steps_both_sessions_together_on_one_fixed_flow_axis(
    page: Page, watch: PageWatch
) -> None:
    page.goto("/?lesson=vanishing-gradients")
    lesson_at(page, 0)
    # Record both status lines whenever either changes: they must never disagree.
    page.evaluate(
        """() => {
          window.statusPairs = [];
          const read = () => [...document.querySelectorAll('#compare .compare-status')]
            .map(p => p.textContent);
          new MutationObserver(() => window.statusPairs.push(read())).observe(
            document.querySelector('#compare'),
            {subtree: true, characterData: true, childList: true, attributes: true});
        }"""
    )
    page.keyboard.press("ArrowRight")  # forward one layer, on both
    settled(page)
    assert statuses(page) == [("0", "step 0 · forward · layer 1")] * 2
    page.get_by_role("button", name="Backward").click()
    settled(page)
    assert [text for _, text in statuses(page)] == ["step 0 · backward · output layer"] * 2
    page.keyboard.press("Shift+ArrowRight")  # the rest of the step, on both
    settled(page)
    assert statuses(page) == [("1", "step 1 · update")] * 2
    pairs = page.evaluate("window.statusPairs")
    assert len(pairs) >= 3 and all(a == b for a, b in pairs), pairs

    # A full backward pass: A's first layer gets ~1e-7 of the gradient, B's about as much.
    page.keyboard.press("ArrowRight")
    page.get_by_role("button", name="Backward").click()
    settled(page)
    for _ in range(12):
        if statuses(page)[0][1].endswith("backward · layer 1"):
            break
        page.get_by_role("button", name="Backward").click()
        settled(page)
    a, b = flow_geometry(page, 0), flow_geometry(page, 1)
    assert a["axis"] == b["axis"] and a["grid"] == b["grid"]  # one axis for both
    low, high = (int(v) for v in a["axis"].split(","))
    assert high - low >= 6  # wide enough to hold both: nothing rescaled away
    y = {int(label[2:]): at for label, at in a["grid"]}
    per_decade = (y[min(y)] - y[max(y)]) / (max(y) - min(y))
    bottom = y[min(y)] + (min(y) - low) * per_decade
    for bars in (a["bars"], b["bars"]):
        for bar in bars:  # every bar's top sits at its value on that axis (1 px)
            if low <= math.log10(bar["value"]) <= high:
                expected = bottom - (math.log10(bar["value"]) - low) * per_decade
                assert bar["top"] == pytest.approx(expected, abs=1.0), bar
    ratio = math.log10(b["bars"][0]["value"]) - math.log10(a["bars"][0]["value"])
    assert ratio > 4  # the 10⁴-fold and more difference, drawn as such
    assert b["bars"][0]["height"] - a["bars"][0]["height"] == pytest.approx(
        ratio * per_decade, abs=1.5
    )
    # Across steps: training on never narrows the axis.
    page.get_by_role("button", name="Step").click()
    settled(page)
    later = flow_geometry(page, 1)
    new_low, new_high = (int(v) for v in later["axis"].split(","))
    assert new_low <= low and new_high >= high
    assert later["axis"] == flow_geometry(page, 0)["axis"]
    watch.assert_clean()


# Two hidden layers against four: → moves both a stage at a time; the shallower network waits at
# the end of each pass until the deeper one gets there.
DEPTHS = [
    ("forward · layer 1", "forward · layer 1"),
    ("forward · layer 2", "forward · layer 2"),
    ("forward · output layer", "forward · layer 3"),
    ("forward · output layer", "forward · layer 4"),
    ("forward · output layer", "forward · output layer"),
    ("loss", "loss"),
    ("backward · output layer", "backward · output layer"),
    ("backward · layer 2", "backward · layer 4"),
    ("backward · layer 1", "backward · layer 3"),
    ("backward · layer 1", "backward · layer 2"),
    ("backward · layer 1", "backward · layer 1"),
]


def test_setups_of_different_depths_wait_for_each_other_at_the_end_of_a_pass(
    page: Page, watch: PageWatch
) -> None:
    page.goto("/?layers=4:tanh,4:tanh&data=xor&compare=1&b.layers=4:tanh*4")
    settled(page)
    expect(page.locator(COLUMNS)).to_have_count(2)
    for a, b in DEPTHS:
        page.keyboard.press("ArrowRight")
        settled(page)
        assert [text for _, text in statuses(page)] == [f"step 0 · {a}", f"step 0 · {b}"]
    page.keyboard.press("ArrowRight")  # both updated: the next step starts together
    settled(page)
    assert statuses(page) == [("1", "step 1 · update")] * 2
    watch.assert_clean()


def test_play_moves_both_setups_in_lockstep(page: Page, watch: PageWatch) -> None:
    page.goto("/?lesson=learning-rate")
    lesson_at(page, 0)
    page.get_by_role("button", name="Play").click()
    expect(page.locator(COLUMNS).first.locator(".compare-status")).not_to_have_attribute(
        "data-step", re.compile(r"^[0-4]$"), timeout=20_000
    )
    page.get_by_role("button", name="Pause").click()
    expect(page.locator(COLUMNS).first.locator(".compare-status")).not_to_contain_text("playing")
    settled(page)
    (step_a, _), (step_b, _) = statuses(page)
    assert step_a == step_b and int(step_a) >= 5
    for setup, session in sessions(page).items():  # every setup, shown or not, in step
        assert api(page, f"/api/sessions/{session}")["state"]["step"] == int(step_a), setup
    watch.assert_clean()


def test_compare_with_a_variant_from_the_page_and_the_link_carries_both(
    page: Page, watch: PageWatch
) -> None:
    page.goto("/?layers=8:tanh,8:tanh&data=xor&opt=sgd&lr=0.03")
    settled(page)
    page.get_by_role("button", name="Compare").click()
    dialog = page.locator("#compare-dialog")
    dialog.get_by_label("Learning rate").fill("0.3")
    dialog.get_by_label("Activation").select_option("relu")
    expect(dialog.locator(".compare-changed")).to_have_text("B changes 2 settings of A.")
    dialog.get_by_role("button", name="Compare").click()
    expect(page.locator(COLUMNS)).to_have_count(2)
    settled(page)
    differences = page.locator("#compare .differences li")
    expect(differences).to_have_count(2)
    expect(differences.filter(has_text="learning rate η")).to_contain_text("A 0.03")
    expect(differences.filter(has_text="learning rate η")).to_contain_text("B 0.3")
    expect(differences.filter(has_text="hidden layers")).to_contain_text("B 2 × 8 ReLU")
    query = parse_qs(urlsplit(page.url).query)
    assert query["compare"] == ["1"] and query["b.lr"] == ["0.3"]
    assert query["b.layers"] == ["8:relu,8:relu"] and query["lr"] == ["0.03"]
    configs = configs_of(page)
    assert configs["B"] == {
        **configs["A"],
        "learning_rate": 0.3,
        "layers": [{"units": 8, "activation": "relu"}] * 2,
    }
    # The link alone rebuilds both setups.
    other = page.context.new_page()
    other.goto(page.url)
    settled(other)
    again = configs_of(other)
    assert again == configs
    expect(other.locator(COLUMNS)).to_have_count(2)
    other.close()
    watch.assert_clean()


def test_the_loss_chart_draws_every_minibatch_and_only_evaluated_points(
    page: Page, watch: PageWatch
) -> None:
    page.goto("/?layers=8:tanh,8:tanh&data=circle&opt=sgd&lr=0.03&batch=8")
    settled(page)
    page.get_by_role("button", name="Step").click()
    settled(page)
    for _ in range(3):
        page.keyboard.press("Shift+ArrowRight")
        settled(page)
    session = sessions(page)["A"]
    history = api(page, f"/api/sessions/{session}/history")
    chart = page.locator("#output svg.loss-chart")
    # The canvas chart says how many history rows each of its lines was drawn through.
    assert chart.get_attribute("data-batch-rows") == str(len(history["step"])) == "4"
    assert chart.get_attribute("data-train-rows") == str(sum(history["evaluated"]))
    assert chart.get_attribute("data-test-rows") == str(sum(history["evaluated"]))
    # Evaluated points are few here: each has a dot of its own.
    assert chart.locator("circle.dot-train").count() == sum(history["evaluated"])
    # A setting changed during the run is marked at the step it took effect.
    page.get_by_label("Learning rate", exact=True).select_option("0.1")
    settled(page)
    marker = chart.locator(".marker")
    expect(marker).to_have_attribute("data-step", "4")
    expect(chart.locator(".marker-group title")).to_contain_text("learning rate η 0.03 → 0.1")
    page.keyboard.press("Shift+ArrowRight")
    settled(page)
    expect(marker).to_have_count(1)
    watch.assert_clean()


def visible_small_text(page: Page) -> list[str]:
    """Every piece of text on screen under 16 px, as 'size: text'."""
    return page.evaluate(
        """() => {
          const small = [];
          for (const el of document.querySelectorAll('body *')) {
            const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
            if (!own) continue;
            const box = el.getBoundingClientRect();
            const style = getComputedStyle(el);
            if (box.width < 2 || box.height < 2 || style.visibility === 'hidden') continue;
            if (!el.checkVisibility()) continue;
            const size = parseFloat(style.fontSize);
            if (size < 16) small.push(size + 'px: ' + el.textContent.trim().slice(0, 40));
          }
          return small;
        }"""
    )


def cut_off_panels(page: Page) -> list[str]:
    """Panels outside the 1280×720 screen, or whose content does not fit inside them."""
    return page.evaluate(
        """() => [...document.querySelectorAll('.panel, .topbar')]
          .filter(el => el.checkVisibility())
          .map(el => {
            const box = el.getBoundingClientRect();
            const out = box.left < 0 || box.top < 0 || box.right > innerWidth + 0.5
              || box.bottom > innerHeight + 0.5;
            const overflow = el.scrollHeight > el.clientHeight + 1
              || el.scrollWidth > el.clientWidth + 1;
            const sizes = `${el.scrollWidth}x${el.scrollHeight} in ${el.clientWidth}x`
              + el.clientHeight;
            return out || overflow ? `${el.id || el.className}: ${JSON.stringify(box)} ${sizes}`
              : null;
          }).filter(Boolean)"""
    )


# Every lesson, every step, in a browser: a whole-tool check (about a minute), in the slow
# group; CI runs it.
@pytest.mark.slow
@pytest.mark.parametrize("lesson", LESSONS, ids=[lesson.id for lesson in LESSONS])
def test_presenter_mode_at_1280x720_shows_every_step_of_a_lesson_large_without_scrolling(
    page: Page, watch: PageWatch, screenshot_dir: Path, lesson: Any
) -> None:
    page.set_viewport_size(PRESENTER)
    open_fresh(page)
    page.get_by_role("button", name="Present").click()  # one toggle…
    expect(page).to_have_url(re.compile(r"present=1"))  # …and the link's flag
    page.locator(f"{LESSON} a[data-lesson='{lesson.id}']").click()
    lesson_at(page, 0)
    expect(page).to_have_url(re.compile(rf"lesson={lesson.id}.*present=1"))
    expect(page.locator("#controls")).to_be_hidden()
    status = page.locator("[role=status]")
    assert float(status.evaluate("s => parseFloat(getComputedStyle(s).fontSize)")) >= 20
    first = next(k for k, step in enumerate(lesson.steps) if step.checkpoints) + 1
    for position in range(len(lesson.steps) + 1):
        if position:
            page.keyboard.press("PageDown")  # keyboard-driven: a clicker's "next"
            lesson_at(page, position)
        assert visible_small_text(page) == [], position
        assert cut_off_panels(page) == [], position
        assert page.evaluate("document.documentElement.scrollHeight") <= PRESENTER["height"]
        assert page.evaluate("document.documentElement.scrollWidth") <= PRESENTER["width"]
        if position == first:
            page.screenshot(path=screenshot_dir / f"presenter-{lesson.id}-1280x720.png")
    page.keyboard.press("p")  # and off again
    expect(page.locator("#controls")).to_be_visible()
    expect(page).not_to_have_url(re.compile(r"present=1"))
    watch.assert_clean()


@pytest.mark.parametrize(("width", "height"), VIEWPORTS)
def test_screenshot_lesson_and_compare_at_every_size(
    page: Page, watch: PageWatch, screenshot_dir: Path, width: int, height: int
) -> None:
    page.set_viewport_size({"width": width, "height": height})
    open_fresh(page)
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    page.screenshot(path=screenshot_dir / f"lessons-list-{width}x{height}.png")
    page.locator(f"{LESSON} a[data-lesson='vanishing-gradients']").click()
    lesson_at(page, 0)
    page.keyboard.press("n")
    lesson_at(page, 1)
    page.keyboard.press("n")
    lesson_at(page, 2)
    expect(page.locator(f"{LESSON} .checkpoint")).to_have_attribute("data-holds", "true")
    expect(page.locator(".compare-flow.is-highlighted")).to_have_count(2)
    # Nothing spills sideways; the lesson's buttons and both status lines are reachable.
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    for selector in (f"{LESSON} [data-action=lesson-next]", f"{COLUMNS} .compare-status"):
        for k in range(page.locator(selector).count()):
            box = page.locator(selector).nth(k).bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width
    page.screenshot(path=screenshot_dir / f"lesson-compare-{width}x{height}.png")
    watch.assert_clean()
