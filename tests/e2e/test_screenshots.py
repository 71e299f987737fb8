"""Screenshots of the page's main states, for people to look at (and for the README).

Each test drives the page into one state, checks the state is really on screen, and saves a
PNG into the screenshot folder: overview after training, forward stepping, backward through a
deep sigmoid network, the weight inspector, divergence, a multiclass run, the tablet layout,
and the next-stage hint at every viewport size from desktop to phone.
"""

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import PageWatch
from tests.e2e.test_visualiser import (
    STATUS,
    backward_all_layers,
    click_edge,
    open_page,
    settled,
)

DESKTOP = {"width": 1280, "height": 800}
TABLET = {"width": 1024, "height": 768}
# The sizes the page is looked at before front-end work counts as done: desktop, landscape and
# portrait tablet, phone.
VIEWPORTS = [(1440, 900), (1024, 768), (768, 1024), (390, 844)]


def train_until(page: Page, at_least: str) -> None:
    """Play until the step counter matches `at_least` (a regex), then pause."""
    page.get_by_role("button", name="Play").click()
    expect(page.locator(STATUS)).to_have_attribute(
        "data-step", re.compile(at_least), timeout=20_000
    )
    page.get_by_role("button", name="Pause").click()
    expect(page.locator(STATUS)).not_to_contain_text("playing")
    settled(page)


def test_screenshot_overview_after_training(
    page: Page, watch: PageWatch, screenshot_dir: Path
) -> None:
    page.set_viewport_size(DESKTOP)
    open_page(page, "/?data=xor&layers=8:tanh,8:tanh,8:tanh&lr=0.03&speed=5")
    train_until(page, r"^([3-9]\d\d|\d{4,})$")  # ≥ 300 steps
    page.get_by_role("button", name="Backward").click()
    backward_all_layers(page)
    expect(page.locator(".accuracy")).to_contain_text("accuracy")
    expect(page.locator("svg.network-svg .pulse")).to_have_count(0)  # pulses have landed
    page.screenshot(path=screenshot_dir / "overview.png")
    watch.assert_clean()


def test_screenshot_forward_stepping(page: Page, watch: PageWatch, screenshot_dir: Path) -> None:
    page.set_viewport_size(DESKTOP)
    open_page(page, "/?data=circle&layers=8:tanh,8:tanh,8:tanh")
    page.get_by_role("button", name="Forward").click()
    page.get_by_role("button", name="Forward").click()
    expect(page.locator(STATUS)).to_have_text("step 0 · forward · layer 2")
    settled(page)
    page.screenshot(path=screenshot_dir / "forward-layer-2.png")
    watch.assert_clean()


def test_screenshot_vanishing_gradients(page: Page, watch: PageWatch, screenshot_dir: Path) -> None:
    page.set_viewport_size(DESKTOP)
    open_page(page, "/?layers=8:sigmoid*10&init=xavier_uniform&opt=sgd&lr=0.1&data=circle&edges=dW")
    page.get_by_role("button", name="Backward").click()
    backward_all_layers(page)
    page.screenshot(path=screenshot_dir / "vanishing-sigmoid.png")
    watch.assert_clean()


def test_screenshot_weight_inspector(page: Page, watch: PageWatch, screenshot_dir: Path) -> None:
    page.set_viewport_size(DESKTOP)
    open_page(page, "/?data=xor&layers=6:tanh,6:tanh&edges=dW")
    page.get_by_role("button", name="Step").click()
    page.get_by_role("button", name="Backward").click()
    backward_all_layers(page)
    click_edge(page, layer=1, index=7)
    expect(page.locator("#inspector [data-field=dW_ij] .q-note")).to_contain_text("✓")
    page.screenshot(path=screenshot_dir / "weight-inspector.png")
    watch.assert_clean()


def test_screenshot_divergence(page: Page, watch: PageWatch, screenshot_dir: Path) -> None:
    page.set_viewport_size(DESKTOP)
    open_page(page, "/?data=circle&layers=8:tanh,8:tanh&opt=sgd&lr=100")
    for _ in range(6):
        page.keyboard.press("Shift+ArrowRight")
        settled(page)
    page.screenshot(path=screenshot_dir / "large-learning-rate.png")
    watch.assert_clean()


def test_screenshot_multiclass_on_a_tablet(
    page: Page, watch: PageWatch, screenshot_dir: Path
) -> None:
    page.set_viewport_size(TABLET)
    open_page(page, "/?data=blobs3&layers=6:relu,6:relu&init=he_normal&speed=5")
    train_until(page, r"^([1-9]\d\d|\d{4,})$")  # ≥ 100 steps
    expect(page.locator("canvas.boundary")).to_have_attribute("data-task", "multiclass")
    # Nothing of the layout spills sideways at tablet width.
    assert page.evaluate("document.documentElement.scrollWidth") <= TABLET["width"]
    page.screenshot(path=screenshot_dir / "tablet-multiclass.png")
    watch.assert_clean()


def test_screenshot_divergence_stops_play_and_says_where(
    page: Page, watch: PageWatch, screenshot_dir: Path
) -> None:
    page.set_viewport_size(DESKTOP)
    open_page(page, "/?data=sine&features=x1&layers=8:relu*3&opt=sgd&lr=5&speed=3&edges=dW")
    page.get_by_role("button", name="Play").click()
    status = page.locator(STATUS)
    expect(status).to_contain_text("diverged", timeout=20_000)
    # The server stops playing by itself; the page says plainly where it began.
    expect(page.get_by_role("button", name="Play")).to_be_visible()
    expect(page.locator("#network .divergence")).to_contain_text(
        re.compile(r"at step \d+, during (forward|loss|backward|update)")
    )
    settled(page)
    page.screenshot(path=screenshot_dir / "divergence.png")
    watch.assert_clean()


@pytest.mark.parametrize(("width", "height"), VIEWPORTS)
def test_screenshot_next_stage_at_every_size(
    page: Page, watch: PageWatch, screenshot_dir: Path, width: int, height: int
) -> None:
    page.set_viewport_size({"width": width, "height": height})
    open_page(page, "/?data=xor&layers=6:tanh,6:tanh")
    for _ in range(3):
        page.keyboard.press("ArrowRight")
        settled(page)
    expect(page.locator(".next-hint")).to_have_text("next: Loss (→)")
    # Nothing spills sideways, and the whole transport and its status are on screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    for button in page.locator(".transport button").all():
        expect(button).to_be_in_viewport(ratio=1)
    expect(page.locator(STATUS)).to_be_in_viewport(ratio=1)
    expect(page.locator(".next-hint")).to_be_in_viewport(ratio=1)
    page.screenshot(path=screenshot_dir / f"next-loss-{width}x{height}.png")
    watch.assert_clean()
