"""The recurrent page (issue 15) against a live server: stepping through time, the heat strip,
the timestep inspector, a recurrent lesson, and a recurrent setup in the link.

Numbers shown on the page are compared with the API's own answers to the precision shown
(3 significant digits: within half a unit of the third digit).
"""

import math
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import PageWatch

STATUS = "[role=status]"
T = 12
SMALL_RNN = f"/?model=recurrent&task=delay&len={T}&cell=rnn&act=tanh&hidden=8&seed=3"
SIZES = [(1440, 900), (1024, 768), (768, 1024), (390, 844)]


def settled(page: Page) -> None:
    expect(page.locator("#app")).to_have_attribute("aria-busy", "false")


def open_recurrent(page: Page, path: str = SMALL_RNN) -> str:
    """Open a recurrent setup; returns its session id."""
    page.goto(path)
    expect(page.locator("#app")).to_have_class(re.compile(r"\bis-recurrent\b"))
    expect(page.locator(STATUS)).to_have_text(re.compile(r"^step 0"))
    settled(page)
    session = page.locator("#app").get_attribute("data-session-id")
    assert session
    return session


def api(page: Page, path: str) -> Any:
    response = page.request.get(path)
    assert response.ok, response.text()
    return response.json()


def press(page: Page, control: str) -> None:
    page.locator(f".transport [data-control={control}]").click()
    settled(page)


def lit(page: Page) -> list[int]:
    return [
        int(t)
        for t in page.locator(".rnn-cell[data-lit='1']").evaluate_all(
            "n => n.map(e => e.dataset.t)"
        )
    ]


def reached(page: Page) -> list[int]:
    return [
        int(t)
        for t in page.locator(".rnn-cell[data-back='1']").evaluate_all(
            "n => n.map(e => e.dataset.t)"
        )
    ]


def assert_shown(text: str, value: float) -> None:
    """`text` is `value` to the 3 significant digits the page shows."""
    shown = float(text)
    half_unit = 0.5 * 10 ** (math.floor(math.log10(abs(value))) - 2) if value else 0.0
    assert abs(shown - value) <= half_unit * 1.0001, (text, value)


def run_forward_and_loss(page: Page) -> None:
    for _ in range(T):
        press(page, "forward")
    expect(page.locator(".transport [data-control=forward]")).to_have_attribute(
        "data-action", "loss"
    )
    press(page, "forward")  # the same button runs the loss stage
    expect(page.locator(STATUS)).to_have_text(re.compile(r"· loss"))


def test_forward_lights_one_timestep_per_press_and_backward_shows_the_api_gradient(
    page: Page, watch: PageWatch
) -> None:
    session = open_recurrent(page)
    assert lit(page) == []
    for t in range(3):
        press(page, "forward")
        expect(page.locator(STATUS)).to_have_text(re.compile(rf"forward · t = {t}$"))
        assert lit(page) == list(range(t + 1))
        expect(page.locator(f".rnn-cell[data-t='{t}']")).to_have_class(re.compile(r"is-current"))
    for _ in range(T - 3):
        press(page, "forward")
    assert lit(page) == list(range(T))
    press(page, "forward")  # loss
    for k, t in enumerate(range(T - 1, T - 4, -1)):
        press(page, "backward")
        expect(page.locator(STATUS)).to_have_text(re.compile(rf"backward · t = {t}$"))
        assert reached(page) == list(range(t, T)), k
        trace = api(page, f"/api/sessions/{session}/trace")
        assert trace["stage"] == "backward" and trace["stage_timestep"] == t
        shown = page.locator(f".rnn-readout [data-field=dh_norm][data-t='{t}']")
        assert_shown(shown.inner_text(), trace["timesteps"][t]["dh_norm"])
        # The inspector follows the timestep just run, with the same number.
        inspector = page.locator("#timestep [data-field=dh_norm] .value")
        assert_shown(inspector.inner_text(), trace["timesteps"][t]["dh_norm"])
    watch.assert_clean()


def test_timestep_inspector_shows_the_api_contribution(page: Page, watch: PageWatch) -> None:
    session = open_recurrent(page)
    run_forward_and_loss(page)
    for _ in range(T):
        press(page, "backward")
    assert reached(page) == list(range(T))
    page.locator(".rnn-cell[data-t='3'] .rnn-box").click()
    settled(page)
    expect(page.locator("#timestep")).to_have_attribute("data-t", "3")
    detail = api(page, f"/api/sessions/{session}/timestep/3")
    for block in ("W_xh", "W_hh"):
        shown = page.locator(f"#timestep [data-field=contribution-{block}]").inner_text()
        assert_shown(shown, detail["contribution_norms"][block])
        total = page.locator(f"#timestep [data-field=total-{block}]").inner_text()
        assert_shown(total, detail["grad_norms"][block])
        share = page.locator(f"#timestep [data-field=share-{block}]").inner_text()
        assert abs(float(share.rstrip("%")) / 100 - detail["share"][block]) <= 0.0051, share
    # The keyboard reaches the same view: Tab to the diagram, ← moves one timestep back.
    page.locator(".rnn-svg").focus()
    page.keyboard.press("ArrowLeft")
    settled(page)
    expect(page.locator("#timestep")).to_have_attribute("data-t", "2")
    expect(page.locator(STATUS)).to_have_text(re.compile(r"backward · t = 0$"))  # ← did not step
    watch.assert_clean()


def test_heat_strip_grows_while_playing(page: Page, watch: PageWatch) -> None:
    session = open_recurrent(page)
    strip = page.locator(".rnn-strip")
    assert int(strip.get_attribute("data-rows") or "0") == 0
    page.locator(".transport [data-control=play]").first.click()
    page.wait_for_function("() => Number(document.querySelector('.rnn-strip').dataset.rows) >= 3")
    page.locator(".transport [data-action=play]").click()  # pause
    expect(page.locator(".transport [data-action=play]")).to_have_attribute("aria-pressed", "false")
    settled(page)
    history = api(page, f"/api/sessions/{session}/history")
    step = int(page.locator(STATUS).get_attribute("data-step") or "0")
    expect(strip).to_have_attribute("data-rows", str(len(history["step"])))
    assert len(history["step"]) == step and len(history["dh_norm"][0]) == T
    expect(page.locator(".rnn-strip-legend")).to_contain_text("log scale")
    watch.assert_clean()


def test_every_recurrent_lesson_opens_with_its_setups_side_by_side(
    page: Page, watch: PageWatch
) -> None:
    lessons = api(page, "/api/lessons")["lessons"]
    recurrent = [lesson for lesson in lessons if lesson.get("model") == "recurrent"]
    assert recurrent, "the API lists no recurrent lesson"
    for listed in recurrent:
        page.goto(f"/?lesson={listed['id']}")
        expect(page.locator("#app")).to_have_class(re.compile(r"\bis-recurrent\b"))
        settled(page)
        lesson = api(page, f"/api/lessons/{listed['id']}")
        for name, setup in zip("AB", lesson["setups"], strict=False):
            cells = page.locator(f"#compare .compare-column[data-setup='{name}'] .rnn-cell")
            expect(cells).to_have_count(setup["config"]["dataset"]["length"])
            expect(cells.first).to_be_visible()
    watch.assert_clean()


def test_a_recurrent_setup_survives_the_link(page: Page, watch: PageWatch) -> None:
    open_recurrent(page, "/?model=recurrent&task=delay&len=15&cell=gru&hidden=5&trunc=4&clip=2")
    query = parse_qs(urlsplit(page.url).query)
    assert query["model"] == ["recurrent"] and query["cell"] == ["gru"] and query["trunc"] == ["4"]
    # A change made in the page lands in the link, and the link rebuilds it.
    page.locator("#recurrent-controls select").nth(2).select_option("lstm")  # task, head, cell
    settled(page)
    expect(page).to_have_url(re.compile(r"cell=lstm"))
    page.goto(page.url)
    session = open_recurrent(page, urlsplit(page.url).path + "?" + urlsplit(page.url).query)
    config = api(page, f"/api/sessions/{session}")["config"]
    assert config["model"] == "recurrent"
    assert (config["cell"], config["hidden"], config["truncate"], config["grad_clip"]) == (
        "lstm",
        5,
        4,
        2,
    )
    assert config["dataset"]["length"] == 15
    expect(page.locator(".rnn-cell")).to_have_count(15)
    watch.assert_clean()


def test_a_task_chosen_before_the_next_frame_keeps_the_new_length(
    page: Page, watch: PageWatch
) -> None:
    """The controls are redrawn at the next animation frame: a task chosen before it keeps the
    length typed just before, not the length last drawn."""
    session = open_recurrent(page)
    length = page.get_by_label("Length T")
    task = page.locator("#recurrent-controls select").first  # task, head, cell
    # Both changes in one task of the page: no frame runs between them.
    length.evaluate(
        """(input, select) => {
        input.value = "20";
        input.dispatchEvent(new Event("change"));
        select.value = "adding";
        select.dispatchEvent(new Event("change"));
    }""",
        task.element_handle(),
    )
    expect(page).to_have_url(re.compile(r"task=adding"))
    assert parse_qs(urlsplit(page.url).query)["len"] == ["20"]
    settled(page)
    config = api(page, f"/api/sessions/{session}")["config"]
    assert (config["dataset"]["name"], config["dataset"]["length"]) == ("adding", 20)
    expect(page.locator(".rnn-cell")).to_have_count(20)
    watch.assert_clean()


@pytest.mark.parametrize(("width", "height"), SIZES)
def test_screenshot_recurrent_mid_backward_and_playing(
    page: Page, watch: PageWatch, screenshot_dir: Path, width: int, height: int
) -> None:
    page.set_viewport_size({"width": width, "height": height})
    open_recurrent(page, "/?model=recurrent&task=delay&len=40&cell=rnn&hidden=16&trunc=15")
    for _ in range(40):
        press(page, "forward")
    press(page, "forward")
    for _ in range(10):
        press(page, "backward")
    expect(page.locator(STATUS)).to_have_text(re.compile(r"backward · t = 30$"))
    # Nothing sticks out of the page sideways (the unrolled view scrolls inside its panel).
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    expect(page.locator(".rnn-readout [data-field=dh_norm]")).to_be_visible()
    page.screenshot(
        path=screenshot_dir / f"recurrent-backward-{width}x{height}.png", full_page=True
    )
    page.locator(".transport [data-action=play]").click()
    page.wait_for_function("() => Number(document.querySelector('.rnn-strip').dataset.rows) >= 3")
    page.screenshot(path=screenshot_dir / f"recurrent-playing-{width}x{height}.png", full_page=True)
    page.locator(".transport [data-action=play]").click()
    settled(page)
    watch.assert_clean()


# ---------------------------------------------------------------- two recurrent setups

LESSON = "rnn-vs-lstm"
COLUMN = "#compare .compare-column[data-setup='{}']"


def open_lesson(page: Page) -> dict[str, str]:
    """Open the RNN-vs-LSTM lesson; returns the session id of each setup shown."""
    page.goto(f"/?lesson={LESSON}")
    expect(page.locator("#app")).to_have_class(re.compile(r"\bis-comparing\b"))
    settled(page)
    runs = page.locator("#app").get_attribute("data-runs") or ""
    sessions = dict(part.split("=") for part in runs.split(","))
    assert set(sessions) == {"A", "B"} and all(sessions.values()), runs
    return sessions


def column_status(page: Page, name: str) -> Any:
    return page.locator(COLUMN.format(name) + " .compare-status")


def lesson_next(page: Page) -> None:
    page.locator("#lesson [data-action=lesson-next]").click()
    settled(page)


def test_rnn_vs_lstm_lesson_shows_both_setups_on_one_transport(
    page: Page, watch: PageWatch
) -> None:
    sessions = open_lesson(page)
    lesson = api(page, f"/api/lessons/{LESSON}")
    for name, setup in zip("AB", lesson["setups"], strict=False):
        column = page.locator(COLUMN.format(name))
        expect(column).to_be_visible()
        expect(column).to_have_attribute("data-session-id", sessions[name])
        expect(column.locator(".setup-label")).to_have_text(setup["label"])
        expect(column.locator(".rnn-cell")).to_have_count(setup["config"]["dataset"]["length"])
    # One press of the transport steps both: both status lines advance to t = 0.
    press(page, "forward")
    for name in "AB":
        expect(column_status(page, name)).to_have_text(re.compile(r"forward · t = 0$"))
        state = api(page, f"/api/sessions/{sessions[name]}")["state"]
        assert (state["stage"], state["stage_timestep"]) == ("forward", 0)
    press(page, "forward")
    for name in "AB":
        expect(column_status(page, name)).to_have_text(re.compile(r"forward · t = 1$"))
    watch.assert_clean()


def test_both_gradient_panels_share_one_axis_and_show_the_api_numbers(
    page: Page, watch: PageWatch
) -> None:
    sessions = open_lesson(page)
    lesson_next(page)  # the forward pass through all 20 timesteps
    lesson_next(page)  # backprop through time back to t = 0
    for name in "AB":
        expect(column_status(page, name)).to_have_text(re.compile(r"backward · t = 0$"))
    a, b = (page.locator(COLUMN.format(name)) for name in "AB")
    scale_a = a.locator(".rnn-svg").get_attribute("data-scale")
    assert scale_a and scale_a == b.locator(".rnn-svg").get_attribute("data-scale")
    # The same decades labelled on both axes, and both heat strips on that scale.
    ticks_a = a.locator(".rnn-axis .rnn-ticklabel").all_inner_texts()
    assert len(ticks_a) >= 2 and ticks_a == b.locator(".rnn-axis .rnn-ticklabel").all_inner_texts()
    for column in (a, b):
        expect(column.locator(".rnn-strip")).to_have_attribute("data-scale", scale_a)
    traces = {name: api(page, f"/api/sessions/{sessions[name]}/trace") for name in "AB"}
    lo, hi = (int(v) for v in scale_a.split(","))
    # The axis holds both setups' gradients at t = 0 (RNN's tiny one, LSTM's far larger one)
    # up to its 12 decades (below that a bar sits at the bottom, marked as below the scale).
    dh0 = {name: traces[name]["timesteps"][0]["dh_norm"] for name in "AB"}
    assert dh0["B"] > 1000 * dh0["A"], dh0
    assert 10**lo <= max(dh0.values()) <= 10**hi
    assert lo <= max(math.floor(math.log10(dh0["A"])), hi - 12)
    # Each column's number at t = 0 is its own session's, to the 3 digits shown.
    for name, column in (("A", a), ("B", b)):
        shown = column.locator(".rnn-readout [data-field=dh_norm][data-t='0']").inner_text()
        assert_shown(shown, dh0[name])
    # The lesson's checkpoints read both sessions too, and hold.
    expect(page.locator(".checkpoint").first).to_have_attribute("data-holds", "true")
    watch.assert_clean()


def test_compare_with_from_a_recurrent_setup_and_its_link(page: Page, watch: PageWatch) -> None:
    open_recurrent(page)
    page.locator(".topbar [data-action=compare]").click()
    dialog = page.locator("#rnn-compare-dialog")
    expect(dialog).to_be_visible()
    dialog.locator(".field", has_text="Cell").first.locator("select").select_option("lstm")
    dialog.locator("[data-action=compare-go]").click()
    expect(page.locator("#app")).to_have_class(re.compile(r"\bis-comparing\b"))
    settled(page)
    expect(page.locator("#compare .differences [data-field=cell]")).to_contain_text("B LSTM")
    query = parse_qs(urlsplit(page.url).query)
    assert query["compare"] == ["1"] and query["cell"] == ["rnn"] and query["b.cell"] == ["lstm"]
    # The link rebuilds both setups.
    page.goto(page.url)
    expect(page.locator("#app")).to_have_class(re.compile(r"\bis-comparing\b"))
    settled(page)
    runs = dict(
        part.split("=")
        for part in (page.locator("#app").get_attribute("data-runs") or "").split(",")
    )
    cells = {name: api(page, f"/api/sessions/{runs[name]}")["config"]["cell"] for name in "AB"}
    assert cells == {"A": "rnn", "B": "lstm"}
    for name in "AB":
        expect(page.locator(COLUMN.format(name) + " .rnn-cell")).to_have_count(T)
    watch.assert_clean()


def test_a_live_field_applies_while_playing(page: Page, watch: PageWatch) -> None:
    # Count the live connections the page opens: a change applied live keeps the one it has;
    # a change that is not live stops, rebuilds and starts playing again over a new one.
    page.add_init_script(
        "const Native = window.WebSocket; window.__sockets = 0;"
        "window.WebSocket = class extends Native {"
        "  constructor(...args) { super(...args); window.__sockets += 1; } };"
    )
    session = open_recurrent(page)
    catalog = api(page, "/api/catalog")
    live = set(catalog["recurrent"]["live_fields"])
    assert "truncate" in live and "truncate" not in set(catalog["live_fields"])
    play = page.locator(".transport [data-action=play]")
    play.click()
    page.wait_for_function("() => Number(document.querySelector('.rnn-strip').dataset.rows) >= 2")
    truncate = page.get_by_label("Truncate BPTT after k steps")
    truncate.fill("4")
    truncate.dispatch_event("change")
    page.wait_for_function(
        f"async () => (await (await fetch('/api/sessions/{session}')).json()).config.truncate === 4"
    )
    step = int(page.locator(STATUS).get_attribute("data-step") or "0")
    # Training carries on over the same connection, from where it was (no rebuild).
    page.wait_for_function(
        f"() => Number(document.querySelector('[role=status]').dataset.step) > {step}"
    )
    expect(play).to_have_attribute("aria-pressed", "true")
    assert page.evaluate("window.__sockets") == 1
    play.click()
    expect(play).to_have_attribute("aria-pressed", "false")
    settled(page)
    history = api(page, f"/api/sessions/{session}/history")
    assert history["step"][0] == 1 and len(history["step"]) > step  # the same run, not reset
    expect(page.locator("#unrolled .rnn-cut").first).to_be_attached()  # the cut is drawn
    watch.assert_clean()


@pytest.mark.parametrize("task", ["delay", "sine"])
def test_sequence_view_shows_the_api_data(page: Page, watch: PageWatch, task: str) -> None:
    session = open_recurrent(page, f"/?model=recurrent&task={task}&len={T}&cell=rnn&hidden=8")
    data = api(page, f"/api/sessions/{session}/data")
    view = page.locator("#sequences")
    expect(view).to_be_visible()
    shown = int(view.get_attribute("data-sequences") or "0")
    assert 1 <= shown <= len(data["train"]["x"])
    for k in range(shown):
        item = view.locator(f".rnn-seq-item[data-index='{k}']")
        bars = item.locator(".rnn-seq-x")
        expect(bars).to_have_count(T * data["n_inputs"])
        drawn = bars.evaluate_all("n => n.map(e => [+e.dataset.t, +e.dataset.f, +e.dataset.v])")
        assert all(v == data["train"]["x"][k][t][f] for t, f, v in drawn)
        targets = item.locator("[data-t][data-v]:not(.rnn-seq-x)")
        drawn = targets.evaluate_all("n => n.map(e => [+e.dataset.t, +e.dataset.v])")
        expected = [(t, y) for t, y in enumerate(data["train"]["y"][k]) if y is not None]
        assert [(t, v) for t, v in drawn] == expected
    expect(view.locator(".rnn-seq-caption")).to_contain_text(f"of {data['n_train']} training")
    watch.assert_clean()


@pytest.mark.parametrize(("width", "height"), SIZES)
def test_screenshot_rnn_vs_lstm_lesson_mid_backward_and_playing(
    page: Page, watch: PageWatch, screenshot_dir: Path, width: int, height: int
) -> None:
    page.set_viewport_size({"width": width, "height": height})
    open_lesson(page)
    lesson_next(page)  # forward through all timesteps
    for _ in range(8):
        press(page, "backward")
    for name in "AB":
        expect(column_status(page, name)).to_have_text(re.compile(r"backward · t = 12$"))
    # Nothing sticks out of the page sideways (the unrolled views scroll inside their columns).
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.screenshot(
        path=screenshot_dir / f"rnn-vs-lstm-backward-{width}x{height}.png", full_page=True
    )
    play = page.locator(".transport [data-action=play]")
    play.click()
    page.wait_for_function(
        "() => [...document.querySelectorAll('#compare .rnn-strip')]"
        ".every(s => Number(s.dataset.rows) >= 3)"
    )
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.screenshot(
        path=screenshot_dir / f"rnn-vs-lstm-playing-{width}x{height}.png", full_page=True
    )
    play.click()
    expect(play).to_have_attribute("aria-pressed", "false")
    settled(page)
    watch.assert_clean()


def test_loss_chart_and_readout_follow_play(page: Page, watch: PageWatch) -> None:
    """After playing, the loss chart holds every step played and its readout gives the API's
    losses of the last step (the minibatch loss included, read from the chart's own rows)."""
    session = open_recurrent(page)
    page.locator(".transport [data-control=play]").first.click()
    page.wait_for_function(
        "() => Number(document.querySelector('[role=status]').dataset.step) >= 20"
    )
    page.locator(".transport [data-action=play]").click()  # pause
    expect(page.locator(".transport [data-action=play]")).to_have_attribute("aria-pressed", "false")
    settled(page)
    state = api(page, f"/api/sessions/{session}")["state"]
    step = str(state["step"])
    chart = page.locator("svg.loss-chart").first
    expect(chart).to_have_attribute("data-last-step", step)
    expect(chart).to_have_attribute("data-batch-rows", step)
    readout = page.locator(".loss-readout").inner_text()
    train, test, batch = re.findall(r"(?:train|test|minibatch) ([0-9.e+-]+)", readout)
    assert_shown(train, state["train_loss"])
    assert_shown(test, state["test_loss"])
    assert_shown(batch, state["loss"])
    watch.assert_clean()
