"""Live training as the page receives it: binary frames, a window of two, the measured speed,
and a first render from the embedded catalog and one POST /api/sessions/start.

Frames are read as the page's WebSocket carried them and decoded with the server's own
decoder; numbers are compared with the GET routes' answers to the precision the README's
protocol section documents: scalars exact; a frame's arrays to 4 significant digits of each
array's largest entry, then float32. Nothing here is timed.
"""

import json
import math
import re
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Page, Route, WebSocket, expect

from app.schemas.binary import decode
from tests.e2e.conftest import PageWatch

STATUS = "[role=status]"
TWO_TANH = "/?layers=8:tanh,8:tanh&data=circle&batch=10&opt=sgd&lr=0.03"
FLOAT32 = 1e-6  # relative: float32 keeps about 7 significant digits
FRAME_DIGITS = 4


def within_frame_precision(shown: list[float], exact: list[float]) -> bool:
    """A frame's array against the exact one: each entry within half a unit of the 4th
    significant digit of the largest entry (block rounding), plus float32's error."""
    largest = max(abs(v) for v in exact)
    unit = 10.0 ** (math.floor(math.log10(largest)) - (FRAME_DIGITS - 1)) if largest else 0.0
    return len(shown) == len(exact) and all(
        abs(a - b) <= 0.5 * unit * (1 + FLOAT32) + FLOAT32 * abs(b)
        for a, b in zip(shown, exact, strict=True)
    )


class Socket:
    """What the page sent and received on its stream, in order."""

    def __init__(self, page: Page) -> None:
        self.url = ""
        self.events: list[tuple[str, Any]] = []
        page.on("websocket", self.attach)

    def attach(self, socket: WebSocket) -> None:
        self.url = socket.url
        socket.on("framesent", lambda payload: self.events.append(("sent", json.loads(payload))))
        socket.on("framereceived", self.received)

    def received(self, payload: str | bytes) -> None:
        if isinstance(payload, str):
            self.events.append(("text", json.loads(payload)))
        else:
            self.events.append(("frame", decode(payload)))

    def sent(self, action: str) -> list[dict[str, Any]]:
        return [m for kind, m in self.events if kind == "sent" and m["action"] == action]

    def frames(self) -> list[dict[str, Any]]:
        return [m for kind, m in self.events if kind == "frame"]


def wait_for(page: Page, condition: Callable[[], bool]) -> None:
    """Until ``condition`` holds: each page call lets Playwright deliver socket events."""
    for _ in range(1000):
        if condition():
            return
        page.evaluate("0")
    raise AssertionError("the page's socket never got there")


def paused_frame(socket: Socket) -> bool:
    return any(frame["reason"] == "pause" for frame in socket.frames())


def settled(page: Page) -> None:
    expect(page.locator("#app")).to_have_attribute("aria-busy", "false")


def open_page(page: Page, path: str) -> str:
    page.goto(path)
    expect(page.locator(STATUS)).to_have_text(re.compile(r"^step 0 · ready"))
    settled(page)
    return page.locator("#app").get_attribute("data-session-id") or ""


def choose_speed(page: Page, key: str) -> None:
    """Move the speed slider with the keyboard (End: the fastest preset)."""
    page.locator("input[name=speed]").focus()
    page.keyboard.press(key)


def play_until(page: Page, steps: int) -> None:
    page.get_by_role("button", name="Play").click()
    expect(page.locator(STATUS)).to_contain_text("playing")
    page.wait_for_function(
        "(n) => Number(document.querySelector('[role=status]').dataset.step) >= n", arg=steps
    )


def pause(page: Page) -> None:
    page.get_by_role("button", name="Pause").click()
    expect(page.locator(STATUS)).not_to_contain_text("playing")
    settled(page)


def test_first_render_needs_only_the_embedded_catalog_and_one_start_request(
    page: Page, watch: PageWatch
) -> None:
    requests: list[str] = []
    page.on(
        "request",
        lambda r: "/api/" in r.url and requests.append(f"{r.method} {r.url.split('/api/')[1]}"),
    )
    session = open_page(page, TWO_TANH)
    # The catalog came with the page: the same JSON as the API's, never fetched.
    embedded = json.loads(page.locator("script#catalog").text_content() or "null")
    assert embedded == page.request.get("/api/catalog").json()
    assert [r for r in requests if r != "GET lessons"] == ["POST sessions/start"]
    # Drawn from /start's answer: the network, and the numbers of the session it made.
    expect(page.locator("svg.network-svg .neuron")).to_have_count(2 + 8 + 8 + 1)
    state = page.request.get(f"/api/sessions/{session}").json()["state"]
    expect(page.locator(STATUS)).to_have_attribute("data-step", str(state["step"]))
    watch.assert_clean()


def test_play_streams_binary_frames_and_paused_numbers_equal_the_api(
    page: Page, watch: PageWatch
) -> None:
    socket = Socket(page)
    session = open_page(page, TWO_TANH)
    choose_speed(page, "End")
    # The page's own GET of the trace after the pause is held back: what it shows until then
    # comes from the last binary frame alone.
    held: list[Route] = []
    page.route(re.compile(r"/api/sessions/[^/]+/trace"), lambda route: held.append(route))
    play_until(page, 50)
    assert socket.url.endswith("?encoding=binary")
    play = socket.sent("play")[0]
    assert (play["steps_per_frame"], play["ack"], play["window"]) == ("auto", True, 2)
    page.get_by_role("button", name="Pause").click()
    expect(page.locator(STATUS)).not_to_contain_text("playing")
    wait_for(page, lambda: paused_frame(socket))
    last = socket.frames()[-1]
    assert (last["reason"], last["playing"]) == ("pause", False)
    # Every frame came as bytes (no text frame but errors, and there were none).
    assert [kind for kind, _ in socket.events if kind == "text"] == []

    trace = page.request.get(f"/api/sessions/{session}/trace").json()
    state = page.request.get(f"/api/sessions/{session}").json()["state"]
    expect(page.locator(STATUS)).to_have_attribute("data-step", str(state["step"]))
    assert last["state"]["step"] == state["step"]
    bars = page.locator("#flow .flow-bar")
    shown = [float(bars.nth(k).get_attribute("data-grad-norm") or "nan") for k in range(3)]
    assert shown == [layer["grad_norm"] for layer in trace["layers"]]  # scalars: exact
    for column, layer in ((1, trace["layers"][0]), (3, trace["layers"][2])):
        marks = page.locator(f"svg.network-svg .column[data-column='{column}'] .dz-mark")
        values = [float(v) for v in marks.evaluate_all("(ms) => ms.map((m) => m.dataset.dz)")]
        assert within_frame_precision(values, layer["dz_mean_abs"])
    assert len(held) == 1  # the page's own GET of the trace, held until now
    held[0].continue_()
    settled(page)
    # Once paused, the history holds every step up to the pause, as GET /history has them.
    history = page.request.get(f"/api/sessions/{session}/history?since=0").json()
    assert history["step"][-1] == state["step"]
    loss_chart_last = page.locator("svg.loss-chart").get_attribute("data-last-step")
    assert loss_chart_last == str(state["step"])
    watch.assert_clean()


def test_after_pause_the_loss_chart_describes_the_latest_losses_of_the_api(
    page: Page, watch: PageWatch
) -> None:
    session = open_page(page, TWO_TANH)
    choose_speed(page, "End")
    play_until(page, 50)
    pause(page)
    history = page.request.get(f"/api/sessions/{session}/history?since=0").json()
    state = page.request.get(f"/api/sessions/{session}").json()["state"]
    # The lines are on a canvas: the chart says how far it drew, and its text alternative (the
    # readout it is described by) gives the latest losses, formatted as the page formats them.
    chart = page.locator("#output svg.loss-chart")
    expect(chart).to_have_attribute("data-last-step", str(history["step"][-1]))
    assert int(chart.get_attribute("data-batch-rows") or 0) > 0
    assert int(chart.get_attribute("data-train-rows") or 0) > 0
    described = page.locator(f"#{chart.get_attribute('aria-describedby')}")
    batch, train, test = page.evaluate(
        """async (values) => {
             const { fmt } = await import("/static/js/format.js");
             return values.map((value) => fmt(value));
           }""",
        [history["batch_loss"][-1], state["train_loss"], state["test_loss"]],
    )
    expect(described).to_have_text(f"train {train} · test {test} · minibatch {batch}")
    watch.assert_clean()


def test_the_speed_label_shows_the_rate_measured_from_the_frames(
    page: Page, watch: PageWatch
) -> None:
    open_page(page, TWO_TANH + "&speed=4")  # the "100/s" preset: 4 steps in every frame
    label = page.locator("output[name=speed-label]")
    expect(label).to_have_text("100/s")
    expect(label).to_have_attribute("data-measured", "false")
    play_until(page, 40)
    expect(label).to_have_attribute("data-measured", "true")
    steps_text = label.locator(".rate-steps").text_content() or ""
    frames_text = label.locator(".rate-frames").text_content() or ""
    steps = re.fullmatch(r"(\d+) steps/s", steps_text)
    frames = re.fullmatch(r"(\d+) frames/s", frames_text)
    assert steps and frames, (steps_text, frames_text)
    # Measured from the frames: each carried 4 steps, so steps/s is 4 × frames/s (each
    # rounded to a whole number: within 2), whatever rate this machine reached.
    assert abs(int(steps[1]) - 4 * int(frames[1])) <= 2
    pause(page)
    expect(label).to_have_text("100/s")
    watch.assert_clean()


def test_pause_is_answered_after_at_most_the_frames_in_the_window(
    page: Page, watch: PageWatch
) -> None:
    socket = Socket(page)
    open_page(page, TWO_TANH)
    choose_speed(page, "End")
    play_until(page, 100)
    page.get_by_role("button", name="Pause").click()
    expect(page.locator(STATUS)).not_to_contain_text("playing")
    wait_for(page, lambda: paused_frame(socket))
    kinds = []
    for kind, message in socket.events:
        if kind == "frame":
            kinds.append(message["reason"])
        elif kind == "sent" and message["action"] == "pause":
            kinds.append("pause sent")
    after = kinds[kinds.index("pause sent") + 1 :]
    # Frames already on their way (never more than the window of 2), then the answer.
    assert after[-1] == "pause" and set(after[:-1]) <= {"play"} and len(after) - 1 <= 2
    watch.assert_clean()


def test_the_view_message_follows_what_the_page_draws(page: Page, watch: PageWatch) -> None:
    socket = Socket(page)
    open_page(page, TWO_TANH)
    play_until(page, 5)
    assert socket.sent("play")[-1]["view"] == {"edges": "W", "layer": 0, "sample": False}
    page.get_by_role("button", name="Gradients dW").click()
    expect(page.locator(STATUS)).to_contain_text("playing")
    wait_for(page, lambda: socket.sent("play")[-1]["view"]["edges"] == "dW")
    assert socket.sent("play")[-1]["view"] == {"edges": "dW", "layer": 0, "sample": False}
    # Frames already in flight still carry W (at most the window of 2); later ones do not.
    count = len(socket.frames())
    wait_for(page, lambda: len(socket.frames()) >= count + 4)
    latest = socket.frames()[-1]
    assert latest["trace"]["layers"][0]["W"] is None
    assert latest["trace"]["layers"][0]["dW"] is not None
    pause(page)
    watch.assert_clean()


SNAPSHOT_DETAIL = """() => ({
  status: Number(document.querySelector("[role=status]").dataset.step),
  flowStep: document.querySelector("#flow .numbers-step").textContent,
  bars: [...document.querySelectorAll("#flow .flow-bar")].map((g) => g.dataset.gradNorm),
  inspectorStep: document.querySelector("#inspector .numbers-step").textContent,
  inspectorNorm: document.querySelector("#inspector [data-field=grad_norm]").dataset.value,
})"""


def history_row(page: Page, session: str, step: int) -> list[float]:
    """‖dW‖ per layer at ``step`` in the history (asked for from the step before: not thinned)."""
    rows = page.request.get(f"/api/sessions/{session}/history?since={step - 1}").json()
    k = rows["step"].index(step)
    return [series[k] for series in rows["grad_norm"]]


def test_while_playing_the_detail_panels_show_the_numbers_of_the_step_they_name(
    page: Page, watch: PageWatch
) -> None:
    # The "1000/s" preset: 20 steps a frame, frames faster than the detail panels take them.
    session = open_page(page, TWO_TANH + "&speed=6")
    play_until(page, 300)
    shown = page.evaluate(SNAPSHOT_DETAIL)  # one task: every panel as the page shows it
    pause(page)
    flow = re.fullmatch(r"step (\d+)", shown["flowStep"])
    inspector = re.fullmatch(r"· numbers of step (\d+)", shown["inspectorStep"])
    assert flow and inspector, shown
    flow_step, inspector_step = int(flow[1]), int(inspector[1])
    # Never ahead of the status line; whatever step they trail it by, their numbers are that
    # step's, as the server's history recorded them (to within float rounding, 1e-9).
    assert 0 < flow_step <= shown["status"] and 0 < inspector_step <= shown["status"]
    bars = [float(v) for v in shown["bars"]]
    assert bars == pytest.approx(history_row(page, session, flow_step), rel=1e-9)
    first_layer = history_row(page, session, inspector_step)[0]
    assert float(shown["inspectorNorm"]) == pytest.approx(first_layer, rel=1e-9)
    # Paused, every panel shows the newest numbers: the status line's step.
    step = page.request.get(f"/api/sessions/{session}").json()["state"]["step"]
    expect(page.locator("#flow .numbers-step")).to_have_text(f"step {step}")
    expect(page.locator("#inspector .numbers-step")).to_have_text(f"· numbers of step {step}")
    watch.assert_clean()


APPEND_TWICE = """async () => {
  const { appendHistory } = await import("/static/js/history-rows.js");
  const rows = (since, steps) => ({
    since, total: steps[steps.length - 1], step: steps, batch_loss: steps.map((s) => s / 10),
    evaluated: steps.map(() => false), train_loss: steps.map(() => null),
    test_loss: steps.map(() => null), train_accuracy: steps.map(() => null),
    test_accuracy: steps.map(() => null), grad_norm: [steps.map((s) => s)],
    mean_abs_dz: [steps.map((s) => s)], update_ratio: [steps.map((s) => s)],
  });
  const base = appendHistory(null, rows(0, [1, 2]));
  const first = appendHistory(base, rows(2, [3, 4]));
  const second = appendHistory(base, rows(2, [3, 5, 6])); // base again: must not see 3, 4
  const overlap = appendHistory(second, rows(4, [5, 6, 7])); // 5 and 6 are held already
  // An older history's own rows are its first `points` (its series may have grown since).
  const own = (h) => [h.step.slice(0, h.points), h.grad_norm[0].slice(0, h.points), h.points];
  return [base, first, second, overlap].map(own);
}"""


def test_a_history_extended_twice_keeps_each_extension_apart(page: Page, watch: PageWatch) -> None:
    """Histories share their series and grow them in place: extending an older history again
    copies it first (the newer extension is not disturbed), and rows already held are not
    added twice."""
    open_page(page, TWO_TANH)
    base, first, second, overlap = page.evaluate(APPEND_TWICE)
    assert base == [[1, 2], [1, 2], 2]
    assert first == [[1, 2, 3, 4], [1, 2, 3, 4], 4]
    assert second == [[1, 2, 3, 5, 6], [1, 2, 3, 5, 6], 5]
    assert overlap == [[1, 2, 3, 5, 6, 7], [1, 2, 3, 5, 6, 7], 6]
    watch.assert_clean()
