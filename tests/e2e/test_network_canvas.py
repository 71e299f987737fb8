"""The network's edges on their canvas: each drawn in its sign's colour, from the numbers the
server has (weights, or gradients once the view says dW). Pixels are read back from the canvas
(which the edge painter's worker paints: once it has painted the last frame, the canvas is
copied onto a probe canvas of the page's own and read there)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import PageWatch

STATUS = "[role=status]"
TWO_TANH = "/?layers=8:tanh,8:tanh&data=circle"

# Along the edge (from 15 % to 85 % of its length), how many pixels are within a colour
# distance of 60 (RGB, 0–255) of each sign's colour. Crossing edges drawn later can cover a
# few points; the edge's own colour must still be the one seen most, at 5 points or more.
SAMPLE_EDGE = """
async ([layer, i, j]) => {
  const { POSITIVE, NEGATIVE } = await import("/static/js/palette.js");
  await (await import("/static/js/edge-canvas.js")).allPainted();
  const rgb = (colour) => {
    const probe = document.createElement("canvas").getContext("2d");
    probe.fillStyle = colour;
    probe.fillRect(0, 0, 1, 1);
    return [...probe.getImageData(0, 0, 1, 1).data].slice(0, 3);
  };
  const svg = document.querySelector("svg.network-svg");
  const fanOut = svg.querySelectorAll(`.column[data-column='${layer + 1}'] .neuron`).length;
  const line = svg.querySelectorAll(`g.edges[data-layer='${layer}'] line`)[i * fanOut + j];
  const [x1, y1, x2, y2] = ["x1", "y1", "x2", "y2"].map((a) => Number(line.getAttribute(a)));
  const canvas = document.querySelector("canvas.network-edges");
  // The canvas covers the neurons' part of the diagram: where it starts, in diagram px.
  const box = canvas.getBoundingClientRect();
  const origin = svg.getBoundingClientRect();
  const ratio = canvas.width / box.width;
  const copy = document.createElement("canvas");
  [copy.width, copy.height] = [canvas.width, canvas.height];
  const context = copy.getContext("2d");
  context.drawImage(canvas, 0, 0);
  const near = (pixel, colour) => Math.hypot(...colour.map((c, k) => c - pixel[k])) < 60;
  const counts = { positive: 0, negative: 0 };
  for (let f = 0.15; f <= 0.851; f += 0.05) {
    const x = Math.round((x1 + f * (x2 - x1) - (box.left - origin.left)) * ratio);
    const y = Math.round((y1 + f * (y2 - y1) - (box.top - origin.top)) * ratio);
    const pixel = context.getImageData(x, y, 1, 1).data;
    if (pixel[3] < 200) continue;
    if (near(pixel, rgb(POSITIVE))) counts.positive += 1;
    if (near(pixel, rgb(NEGATIVE))) counts.negative += 1;
  }
  return counts;
}
"""


def strongest_edge(trace: dict[str, Any], field: str) -> tuple[int, int, int, float]:
    """(layer, i, j, value) of the entry of largest magnitude over every layer's matrix."""
    best = (0, 0, 0, 0.0)
    for layer in trace["layers"]:
        for i, row in enumerate(layer[field]):
            for j, value in enumerate(row):
                if abs(value) > abs(best[3]):
                    best = (layer["index"], i, j, value)
    return best


def assert_edge_drawn_in_its_sign(page: Page, trace: dict[str, Any], field: str) -> None:
    """The edge's colour, read until it shows (up to about 5 s): the worker's picture reaches
    the page's copy of the canvas in a task of its own, just after the worker says it painted."""
    layer, i, j, value = strongest_edge(trace, field)
    same, other = ("positive", "negative") if value > 0 else ("negative", "positive")
    for _ in range(100):
        counts = page.evaluate(SAMPLE_EDGE, [layer, i, j])
        if counts[same] >= 5 and counts[same] > counts[other]:
            return
        page.wait_for_timeout(50)
    raise AssertionError((field, value, counts))


# How the edge canvas is painted: by the edge painter's worker (every current browser), on
# the main thread where a canvas cannot be handed to a worker, and on the main thread again,
# on a fresh canvas element, when the worker cannot load.
NO_OFFSCREEN = "delete HTMLCanvasElement.prototype.transferControlToOffscreen;"
PAINTERS = ["worker", "main thread", "worker fails to load"]
# A canvas handed to a worker refuses a context of its own.
PAINTED_BY_WORKER = """() => {
  try {
    document.querySelector("canvas.network-edges").getContext("2d");
    return false;
  } catch (error) {
    return error.name === "InvalidStateError";
  }
}"""


@pytest.mark.parametrize("painter", PAINTERS)
def test_canvas_edges_show_the_sign_of_weights_then_of_gradients(
    page: Page, watch: PageWatch, painter: str
) -> None:
    if painter == "main thread":
        page.add_init_script(NO_OFFSCREEN)
    if painter == "worker fails to load":
        page.route("**/static/js/edge-painter.js", lambda route: route.fulfill(status=404))
    page.goto(TWO_TANH)
    expect(page.locator(STATUS)).to_have_text(re.compile(r"^step 0 · ready"))
    page.get_by_role("button", name="Step").click()
    expect(page.locator(STATUS)).to_have_attribute("data-step", "1")
    expect(page.locator("#app")).to_have_attribute("aria-busy", "false")
    session = page.locator("#app").get_attribute("data-session-id")
    trace = page.request.get(f"/api/sessions/{session}/trace").json()
    assert_edge_drawn_in_its_sign(page, trace, "W")
    before = page.locator("canvas.network-edges").screenshot()
    page.get_by_role("button", name="Gradients dW").click()
    expect(page.locator("svg.network-svg")).to_have_attribute("data-edges", "dW")
    assert_edge_drawn_in_its_sign(page, trace, "dW")
    assert page.locator("canvas.network-edges").screenshot() != before  # redrawn for dW
    assert page.locator("canvas.network-edges").count() == 1
    assert page.evaluate(PAINTED_BY_WORKER) == (painter == "worker")
    if painter == "worker fails to load":  # the browser reports the 404; nothing else
        assert not watch.page_errors and not watch.foreign_requests
        assert all("404" in message for message in watch.console_errors), watch.console_errors
    else:
        watch.assert_clean()
