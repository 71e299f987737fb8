"""Every number on the page is true and explains itself (issue: chain rule at the output,
exact flow factors, a chain panel that never contradicts itself while playing, exact zeros,
no δ before the backward pass, hover that lets go, links that adapt, the loss and update
stages, definitions, dead units, keyboard, small screens and projectors, typed widths).

Numbers are read from what the page shows (data attributes carry the full value) and
compared with the API's own answers. Waits are on page state, never on a clock.
"""

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from tests.e2e.conftest import PageWatch
from tests.e2e.test_visualiser import (
    STATUS,
    TWO_TANH,
    backward_all_layers,
    click_edge,
    open_page,
    settled,
)

INSPECTOR = "#inspector .inspector-body"
# Zero weights and ReLU: every hidden unit outputs exactly 0 on every point.
ALL_DEAD = "/?layers=4:relu,4:relu&init=zeros&data=circle"


def session_id(page: Page) -> str:
    return page.locator("#app").get_attribute("data-session-id") or ""


def api(page: Page, path: str, **params: Any) -> Any:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return page.request.get(f"/api/sessions/{session_id(page)}/{path}?{query}").json()


def value(locator: Locator) -> float:
    return float(locator.get_attribute("data-value") or "nan")


def weight_of(inspector: Locator) -> tuple[str | None, ...]:
    """(layer, i, j, sample) of the weight the inspector shows."""
    return tuple(inspector.get_attribute(f"data-{k}") for k in ("layer", "i", "j", "sample"))


def press(page: Page, key: str, times: int = 1) -> None:
    for _ in range(times):
        page.keyboard.press(key)
        settled(page)


# ----------------------------------------------------------------------------- 1


@pytest.mark.parametrize(
    ("link", "case"),
    [("/?layers=6:tanh&data=circle", "fused"), ("/?layers=6:tanh&data=circle&loss=mse", "mse")],
)
def test_the_output_layers_chain_rule_is_the_heads_and_the_losss(
    page: Page, watch: PageWatch, link: str, case: str
) -> None:
    open_page(page, link)
    page.get_by_role("button", name="Backward").click()  # forward, loss, the output layer
    expect(page.locator(STATUS)).to_have_text("step 0 · backward · output layer")
    settled(page)
    click_edge(page, layer=1, index=2)
    inspector = page.locator(INSPECTOR)
    expect(inspector.locator("[data-field=delta_j]")).not_to_have_attribute("data-value", "")
    layer, i, j, sample = weight_of(inspector)
    assert layer == "1"
    chain = api(page, "chain", layer=layer, i=i, j=j, sample=sample)
    terms = chain["output"]
    # No made-up f′(z) = 1 and no "∂L/∂a from the loss": the output layer is its head's.
    expect(inspector.locator("[data-field=fprime_z_j]")).to_have_count(0)
    expect(inspector.locator("[data-field=downstream]")).to_have_count(0)
    for field, expected in (("y_hat", terms["y_hat"]), ("target", terms["target"])):
        assert value(inspector.locator(f"[data-field={field}]")) == expected
    delta = value(inspector.locator("[data-field=delta_j]"))
    assert delta == chain["delta_j"]
    if case == "fused":
        assert terms["case"] == "fused" and terms["head"] == "sigmoid"
        expect(inspector.locator("[data-field=delta_j] .q-label")).to_contain_text("ŷ − y")
        expect(inspector.locator(".why")).to_contain_text("cancel")
        assert delta == pytest.approx(terms["y_hat"] - terms["target"], rel=1e-9, abs=1e-12)
    else:
        assert terms["case"] == "through_head"
        derivative = value(inspector.locator("[data-field=head_derivative]"))
        assert derivative == terms["head_derivative"]
        expect(inspector.locator("[data-field=head_derivative] .q-label")).to_contain_text("σ′")
        expected = value(inspector.locator("[data-field=dloss_dyhat]")) * derivative
        assert delta == pytest.approx(expected, rel=1e-9, abs=1e-12)
    expect(inspector.locator("[data-field=dW_ij] .q-note")).to_contain_text("✓")
    watch.assert_clean()


# ----------------------------------------------------------------------------- 3


def test_while_playing_the_chain_panel_is_frozen_at_its_step_and_says_so(
    page: Page, watch: PageWatch
) -> None:
    open_page(page, TWO_TANH + "&speed=2")
    page.get_by_role("button", name="Backward").click()
    backward_all_layers(page)
    click_edge(page, layer=1, index=10)
    inspector = page.locator(INSPECTOR)
    expect(inspector.locator("[data-field=dW_ij] .q-note")).to_contain_text("✓")
    expect(inspector).to_have_attribute("data-step", "0")
    page.get_by_role("button", name="Play").click()
    status = page.locator(STATUS)
    expect(status).to_contain_text("playing")
    expect(status).not_to_have_attribute("data-step", re.compile(r"^[0-2]$"))
    # Several steps later the panel still shows step 0's numbers, says so, and agrees with
    # itself: its dW is the batch average of the same step.
    frozen = inspector.locator("[data-frozen=true]")
    expect(frozen).to_contain_text("numbers of step 0")
    expect(frozen).to_contain_text("pause")
    expect(inspector).to_have_attribute("data-step", "0")
    expect(inspector.locator("[data-field=dW_ij] .q-note")).to_contain_text("✓")
    expect(inspector.locator("[data-field=dW_ij] .q-label")).to_contain_text("at step 0")
    page.get_by_role("button", name="Pause").click()
    expect(status).not_to_contain_text("playing")
    settled(page)
    # Paused: the panel shows the step training stopped at, the API's numbers for it.
    stopped = status.get_attribute("data-step")
    expect(inspector).to_have_attribute("data-step", stopped or "")
    expect(frozen).to_have_count(0)
    layer, i, j, sample = weight_of(inspector)
    chain = api(page, "chain", layer=layer, i=i, j=j, sample=sample)
    assert value(inspector.locator("[data-field=dW_ij]")) == chain["dW_ij"]
    expect(inspector.locator("[data-field=dW_ij] .q-note")).to_contain_text("✓")
    watch.assert_clean()


# ----------------------------------------------------------------------------- 4, 11


def test_an_exact_zero_gradient_reads_as_zero_with_its_reason(page: Page, watch: PageWatch) -> None:
    open_page(page, ALL_DEAD)
    page.get_by_role("button", name="Backward").click()
    backward_all_layers(page)
    bars = page.locator("#flow .flow-bar")
    expect(bars.nth(0)).to_have_attribute("data-grad-norm", "0")
    expect(bars.nth(1)).to_have_attribute("data-grad-norm", "0")
    readout = page.locator("#flow .flow-readout")
    expect(readout).to_have_attribute("data-kind", "zero")
    expect(readout).to_contain_text("No gradient reaches L1, L2")
    expect(readout).to_contain_text("dead")
    expect(readout).not_to_contain_text("Run a backward pass")
    bars.nth(0).hover()
    expect(readout).to_contain_text("No gradient reaches L1 from L2")
    flow = api(page, "trace")["gradient_flow"]
    assert flow[0]["status"] == "no_gradient"
    # Dead units: a cross on each unit dead on the whole training set, counts in the inspector.
    expect(page.locator("svg.network-svg .dead-mark[data-dead=true]")).to_have_count(8)
    expect(page.locator(INSPECTOR).locator("[data-field=dead_units_train] dd")).to_have_text(
        "4 of 4 units"
    )
    expect(page.locator(INSPECTOR).locator("[data-field=dead_fraction] dd")).to_have_text("100%")
    # "Saturated" says where it is for this activation: ReLU's zero side.
    expect(page.locator(INSPECTOR).locator("[data-field=saturated_fraction] dt")).to_contain_text(
        "z ≤ 0"
    )
    watch.assert_clean()


# ----------------------------------------------------------------------------- 5


def test_no_delta_before_the_backward_pass_reaches_the_layer(page: Page, watch: PageWatch) -> None:
    chains: list[str] = []
    page.on("request", lambda r: "/chain?" in r.url and chains.append(r.url))
    open_page(page, TWO_TANH)  # 2 → 8 → 8 → 1: forward ×3, loss, backward ×3
    click_edge(page, layer=1, index=10)
    inspector = page.locator(INSPECTOR)
    expect(inspector).to_have_attribute("data-kind", "edge")
    pending = inspector.locator(".pending[data-pending=backward]")
    # Layer 2 is reached by the 6th press: forward ×3, loss, backward output, backward layer 2.
    expect(pending).to_contain_text("press → 6 more times")
    for field in ("delta_j", "fprime_z_j", "grad_sample", "dW_ij"):
        expect(inspector.locator(f"[data-field={field}]")).to_have_count(0)
    press(page, "ArrowRight", 5)
    expect(page.locator(STATUS)).to_have_text("step 0 · backward · output layer")
    expect(pending).to_contain_text("press → once more")
    expect(inspector.locator("[data-field=delta_j]")).to_have_count(0)
    assert chains == []  # nothing of the backward pass was asked for before it ran
    press(page, "ArrowRight")
    expect(page.locator(STATUS)).to_have_text("step 0 · backward · layer 2")
    expect(inspector.locator("[data-field=delta_j]")).not_to_have_attribute("data-value", "")
    expect(pending).to_have_count(0)
    watch.assert_clean()


# ----------------------------------------------------------------------------- 2, 6


def test_flow_factors_multiply_to_the_ratio_and_the_readout_lets_go(
    page: Page, watch: PageWatch
) -> None:
    open_page(page, "/?layers=16:sigmoid*4&init=xavier_uniform&data=circle")
    page.get_by_role("button", name="Backward").click()
    backward_all_layers(page)
    readout = page.locator("#flow .flow-readout")
    expect(readout).to_have_attribute("data-kind", "summary")
    page.locator("#flow .flow-bar").nth(0).hover()
    expect(readout).to_have_attribute("data-kind", "factors")
    ratio = readout.locator("[data-ratio]")
    expect(ratio).to_contain_text("gain through Wᵀ of L2")
    expect(ratio).to_contain_text("gain through f′")
    expect(readout.locator(".why")).to_contain_text("rule of thumb")
    flow = api(page, "trace")["gradient_flow"][0]
    assert float(ratio.get_attribute("data-ratio") or "nan") == flow["ratio"]
    assert flow["ratio"] == pytest.approx(flow["weight_gain"] * flow["activation_gain"], rel=1e-12)
    # The pointer leaves: the summary comes back (it used to stay on the last bar for good).
    page.locator("svg.loss-chart").hover()
    expect(readout).to_have_attribute("data-kind", "summary")
    # The same from the keyboard: focus shows the factors, moving the focus away lets go.
    page.locator("#flow .flow-bar").nth(1).focus()
    expect(readout).to_have_attribute("data-kind", "factors")
    page.locator("#flow .flow-bar").nth(1).blur()
    expect(readout).to_have_attribute("data-kind", "summary")
    watch.assert_clean()


# ----------------------------------------------------------------------------- 7


def test_a_link_to_one_dimensional_data_adapts_its_features(page: Page, watch: PageWatch) -> None:
    page.goto("/?data=sine")
    expect(page.locator(STATUS)).to_have_text(re.compile(r"^step 0 · ready"))
    settled(page)
    expect(page.locator("[data-dataset=sine]")).to_have_attribute("aria-checked", "true")
    expect(page).to_have_url(re.compile(r"data=sine.*features=x1(&|$)"))
    assert api(page, "data")["name"] == "sine"
    expect(page.locator(".error-banner")).to_be_hidden()  # the link chose no features
    # Features the link chose that the data cannot feed: adapted, and the field is named.
    page.goto("/?data=sine&features=x1,x2,x1_sq")
    expect(page.locator(STATUS)).to_have_text(re.compile(r"^step 0 · ready"))
    settled(page)
    banner = page.locator(".error-banner")
    expect(banner).to_contain_text("features:")
    expect(banner).to_contain_text("x2")
    config = page.request.get(f"/api/sessions/{session_id(page)}").json()["config"]
    assert config["dataset"]["name"] == "sine" and config["features"] == ["x1", "x1_sq"]
    # A loss that does not fit the data's task: back to the task's default, named.
    page.goto("/?data=sine&loss=binary_cross_entropy")
    expect(page.locator(STATUS)).to_have_text(re.compile(r"^step 0 · ready"))
    settled(page)
    expect(page.locator(".error-banner")).to_contain_text("loss:")
    config = page.request.get(f"/api/sessions/{session_id(page)}").json()["config"]
    assert config["dataset"]["name"] == "sine"
    watch.assert_clean()


# ----------------------------------------------------------------------------- 8


def test_the_loss_stage_shows_predictions_targets_and_per_sample_losses(
    page: Page, watch: PageWatch, screenshot_dir: Path
) -> None:
    page.set_viewport_size({"width": 1440, "height": 900})
    open_page(page, TWO_TANH + "&batch=16")
    press(page, "ArrowRight", 3)
    expect(page.locator(".next-hint")).to_have_text("next: Loss (→)")
    page.get_by_role("tab", name="Loss").click()
    inspector = page.locator(INSPECTOR)
    expect(inspector).to_have_attribute("data-kind", "loss")
    # Predictions are ready, the losses not yet.
    expect(inspector.locator(".pending[data-pending=loss]")).to_contain_text("press → once more")
    expect(inspector.locator("tr[data-row]")).to_have_count(16)
    expect(inspector.locator("tr[data-row='0']")).to_have_attribute("data-loss", "")
    page.get_by_role("tab", name="Selected").click()
    press(page, "ArrowRight")
    expect(page.locator(STATUS)).to_have_text("step 0 · loss")
    # Stepping into the loss stage shows what it computed.
    expect(page.get_by_role("tab", name="Loss")).to_have_attribute("aria-selected", "true")
    trace = api(page, "trace")
    state = page.request.get(f"/api/sessions/{session_id(page)}").json()["state"]
    total = inspector.locator(".loss-total")
    assert float(total.get_attribute("data-value") or "nan") == state["loss"]
    expect(total).to_contain_text("✓")
    rows = inspector.locator("tr[data-row]")
    expect(rows).to_have_count(16)
    shown = [float(v) for v in rows.evaluate_all("(rs) => rs.map((r) => r.dataset.loss)")]
    assert shown == trace["sample_losses"]
    assert sum(shown) / len(shown) == pytest.approx(state["loss"], rel=1e-12)
    expect(page.locator(".next-hint")).to_have_text("next: Backward (→)")
    # A row click makes it the focus sample.
    rows.nth(3).click()
    expect(rows.nth(3)).to_have_attribute("aria-current", "true")
    page.screenshot(path=screenshot_dir / "loss-stage.png")
    watch.assert_clean()


# ----------------------------------------------------------------------------- 9


def test_the_update_stage_explains_the_selected_weight_with_the_optimisers_numbers(
    page: Page, watch: PageWatch, screenshot_dir: Path
) -> None:
    page.set_viewport_size({"width": 1440, "height": 900})
    open_page(page, TWO_TANH + "&opt=momentum&opt.momentum=0.9&lr=0.1&l2=0.01")
    update = page.get_by_role("button", name="Update")
    expect(update).to_have_attribute("title", re.compile("Momentum"))
    press(page, "Shift+ArrowRight")  # one step: the velocity is no longer 0
    click_edge(page, layer=1, index=10)
    inspector = page.locator(INSPECTOR)
    expect(inspector).to_have_attribute("data-kind", "update")  # the tab the step landed on
    press(page, "ArrowRight", 2)
    expect(page.get_by_role("tab", name="Selected")).to_have_attribute("aria-selected", "true")
    page.get_by_role("tab", name="Update").click()
    expect(inspector.locator(".pending[data-pending=update]")).to_contain_text("has not run yet")
    press(page, "ArrowRight", 6)
    expect(page.locator(STATUS)).to_have_text("step 2 · update")
    expect(inspector).to_have_attribute("data-step", "2")
    layer, i, j = (inspector.get_attribute(f"data-{k}") for k in ("layer", "i", "j"))
    answer = api(page, "update-rule", layer=layer, i=i, j=j)["update"]
    for field in ("w_before", "grad_data", "l2_term", "grad", "delta", "w_after"):
        assert value(inspector.locator(f"[data-field={field}]")) == answer[field], field
    velocity = next(t for t in answer["terms"] if t["symbol"] == "v")
    assert value(inspector.locator("[data-field=term_v]")) == velocity["value"]
    before = value(inspector.locator("[data-field=before_velocity]"))
    assert before == answer["state_before"]["velocity"] != 0
    expect(inspector.locator(".given")).to_contain_text("μ = 0.9")
    expect(inspector.locator("[data-field=delta] .q-note")).to_contain_text("✓")
    page.screenshot(path=screenshot_dir / "update-stage.png")
    # The Update button names the optimiser in use.
    page.get_by_label("Optimiser", exact=True).select_option("adam")
    settled(page)
    expect(update).to_have_attribute("title", re.compile("Adam"))
    watch.assert_clean()


# ----------------------------------------------------------------------------- 10, 14


def test_metrics_define_themselves_and_widths_can_be_typed(page: Page, watch: PageWatch) -> None:
    open_page(page, TWO_TANH)
    catalog = page.request.get("/api/catalog").json()
    glossary = {t["key"]: t for t in catalog["glossary"]}
    page.locator("#flow .legend .term[data-term=grad_norm]").focus()
    popup = page.locator("#term-popup")
    expect(popup).to_be_visible()
    expect(popup).to_contain_text(glossary["grad_norm"]["formula"])
    page.keyboard.press("Escape")
    expect(popup).to_be_hidden()
    # Each layer statistic is a term with its definition.
    for key in ("dead_fraction", "saturated_fraction", "update_ratio", "mean_abs_dz"):
        term = page.locator(INSPECTOR).locator(f".term[data-term={key}]")
        formula = re.compile(re.escape(glossary[key]["formula"]))
        expect(term).to_have_attribute("aria-description", formula)
    # The chosen optimiser's and initialiser's descriptions show where they are chosen.
    optimizer = catalog["defaults"]["optimizer"]["name"]
    formula = next(o["formula"] for o in catalog["optimizers"] if o["name"] == optimizer)
    expect(page.locator("[data-hint=optimizer]")).to_have_text(formula)
    page.get_by_label("Weight initialiser").select_option("he_normal")
    settled(page)
    expect(page.locator("[data-hint=init]")).to_contain_text("gain g = scale")
    # A width typed in one go: 8 → 2.
    width = page.get_by_label("Neurons in layer 1", exact=True)
    width.fill("2")
    width.press("Enter")
    expect(page).to_have_url(re.compile(r"layers=2:tanh,8:tanh"))
    settled(page)
    expect(page.locator("svg.network-svg .column[data-column='1'] .neuron")).to_have_count(2)
    watch.assert_clean()


# ----------------------------------------------------------------------------- 12


def test_space_belongs_to_focused_controls_and_plays_otherwise(
    page: Page, watch: PageWatch
) -> None:
    open_page(page, TWO_TANH + "&speed=2")
    status = page.locator(STATUS)
    step = page.get_by_role("button", name="Step")
    step.focus()
    page.keyboard.press("Space")  # presses the focused button: one step, no playing
    expect(status).to_have_attribute("data-step", "1")
    settled(page)
    expect(status).not_to_contain_text("playing")
    page.get_by_label("Batch size", exact=True).focus()
    page.keyboard.press("Space")
    expect(status).not_to_contain_text("playing")
    page.keyboard.press("Escape")
    page.locator("#flow h2").click()  # nothing focusable: Space is Play's
    page.keyboard.press("Space")
    expect(status).to_contain_text("playing")
    page.keyboard.press("Space")
    expect(status).not_to_contain_text("playing")
    settled(page)
    watch.assert_clean()


def test_the_diagram_is_walked_with_arrow_keys_and_enter_opens_the_inspector(
    page: Page, watch: PageWatch
) -> None:
    open_page(page, TWO_TANH)
    page.get_by_role("button", name="Backward").click()
    backward_all_layers(page)
    diagram = page.locator("svg.network-svg")
    # Reach the diagram with Tab, as a keyboard user does.
    page.get_by_role("button", name="Gradients dW").focus()
    page.keyboard.press("Tab")
    expect(diagram).to_be_focused()
    ring = diagram.locator(".focus-ring")
    expect(ring).to_have_attribute("visibility", "visible")
    expect(diagram).to_have_attribute("data-focus", "neuron:1:0")  # layer 1 is selected
    before = page.locator(STATUS).text_content()
    page.keyboard.press("ArrowDown")
    expect(diagram).to_have_attribute("data-focus", "neuron:1:1")
    page.keyboard.press("ArrowRight")  # onto its outgoing edges, not a training stage
    expect(diagram).to_have_attribute("data-focus", "edge:1:1:0")
    expect(diagram.locator(".focus-line")).to_have_attribute("visibility", "visible")
    page.keyboard.press("ArrowDown")
    expect(diagram).to_have_attribute("data-focus", "edge:1:1:1")
    assert page.locator(STATUS).text_content() == before
    outline = diagram.evaluate("(n) => getComputedStyle(n).outlineStyle")
    assert outline != "none"
    page.keyboard.press("Enter")
    inspector = page.locator(INSPECTOR)
    expect(inspector).to_have_attribute("data-kind", "edge")
    for key, expected in (("layer", "1"), ("i", "1"), ("j", "1")):
        expect(inspector).to_have_attribute(f"data-{key}", expected)
    expect(inspector.locator("[data-field=dW_ij] .q-note")).to_contain_text("✓")
    page.keyboard.press("ArrowRight")
    expect(diagram).to_have_attribute("data-focus", "neuron:2:1")
    page.keyboard.press("Enter")
    expect(inspector).to_have_attribute("data-kind", "layer")
    expect(inspector).to_have_attribute("data-layer", "1")
    watch.assert_clean()


# ----------------------------------------------------------------------------- 13


def no_sideways_scroll(page: Page) -> None:
    width = page.evaluate("window.innerWidth")
    assert page.evaluate("document.documentElement.scrollWidth") <= width


SMALLEST_TEXT = """() => {
  const sizes = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const element = node.parentElement;
    if (!node.textContent.trim() || !element) continue;
    if (element.closest('dialog:not([open]), [hidden], .sr-only')) continue;
    const box = element.getBoundingClientRect();
    const style = getComputedStyle(element);
    if (box.width === 0 || box.height === 0 || style.visibility === 'hidden') continue;
    // SVG text scales with its drawing: its rendered size is font-size × the screen scale.
    const scale = element.getScreenCTM ? element.getScreenCTM()?.a ?? 1 : 1;
    sizes.push([parseFloat(style.fontSize) * scale, node.textContent.trim().slice(0, 30)]);
  }
  sizes.sort((a, b) => a[0] - b[0]);
  return sizes.slice(0, 5);
}"""


def test_no_label_is_smaller_than_12px(page: Page, watch: PageWatch) -> None:
    page.set_viewport_size({"width": 1440, "height": 900})
    open_page(page, TWO_TANH)
    press(page, "Shift+ArrowRight")
    page.get_by_role("button", name="Backward").click()
    backward_all_layers(page)
    for view in ("Selected", "Loss", "Update"):
        page.get_by_role("tab", name=view).click()
        settled(page)
        smallest = page.evaluate(SMALLEST_TEXT)
        assert smallest[0][0] >= 12 - 0.01, (view, smallest)
    click_edge(page, layer=1, index=3)
    settled(page)
    page.locator("#flow .flow-bar").nth(0).hover()
    smallest = page.evaluate(SMALLEST_TEXT)
    assert smallest[0][0] >= 12 - 0.01, smallest
    watch.assert_clean()


@pytest.mark.parametrize("width", [720, 800, 900, 1024])
def test_between_720_and_1024_the_top_bar_wraps_and_the_status_reads_in_full(
    page: Page, watch: PageWatch, width: int
) -> None:
    page.set_viewport_size({"width": width, "height": 768})
    open_page(page, TWO_TANH + "&speed=2")
    press(page, "ArrowRight", 4)
    page.get_by_role("button", name="Backward").click()
    expect(page.locator(STATUS)).to_have_text("step 0 · backward · output layer")
    page.get_by_role("button", name="Play").click()
    status = page.locator(STATUS)
    expect(status).to_contain_text("playing")
    top_bar_fits(page)  # playing: the longest status
    page.get_by_role("button", name="Pause").click()
    expect(status).not_to_contain_text("playing")
    settled(page)
    top_bar_fits(page)
    watch.assert_clean()


def top_bar_fits(page: Page) -> None:
    """No sideways scroll; the status is on screen and not cut off; every transport button
    is wholly on screen."""
    no_sideways_scroll(page)
    status = page.locator(STATUS)
    expect(status).to_be_in_viewport(ratio=1)
    assert not status.evaluate("(n) => n.scrollWidth > n.clientWidth + 1"), status.text_content()
    for button in page.locator(".transport button").all():
        expect(button).to_be_in_viewport(ratio=1)


def test_on_a_phone_nothing_scrolls_sideways_and_the_transport_stays_reachable(
    browser: Browser, base_url: str
) -> None:
    phone = browser.new_context(
        base_url=base_url, viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True
    )
    try:
        page = phone.new_page()
        open_page(page, TWO_TANH)
        for _ in range(4):  # forward through three layers, then the loss
            page.get_by_role("button", name=re.compile("Forward|Loss")).click()
            settled(page)
        expect(page.locator(STATUS)).to_have_text("step 0 · loss")
        no_sideways_scroll(page)  # the loss table included
        page.get_by_role("button", name="Step").click()
        settled(page)
        no_sideways_scroll(page)  # the update view included
        # Scrolled to the very bottom (the setup panel), the transport is still on screen.
        page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
        for name in ("Reset", "Step", "Play", "Update"):
            expect(page.get_by_role("button", name=name)).to_be_in_viewport(ratio=1)
        page.get_by_role("button", name="Step").click()
        expect(page.locator(STATUS)).to_have_attribute("data-step", "2")
    finally:
        phone.close()


def test_on_a_portrait_tablet_a_clicked_edge_brings_the_inspector_into_view(
    page: Page, watch: PageWatch, screenshot_dir: Path
) -> None:
    page.set_viewport_size({"width": 768, "height": 1024})
    open_page(page, TWO_TANH)
    page.get_by_role("button", name="Backward").click()
    backward_all_layers(page)
    page.evaluate("window.scrollTo(0, 0)")
    click_edge(page, layer=1, index=10)
    inspector = page.locator(INSPECTOR)
    expect(inspector.locator("h3")).to_have_text(re.compile(r"^Weight w\["))
    expect(inspector.locator("h3")).to_be_in_viewport(ratio=1)
    expect(inspector.locator("[data-field=dW_ij]")).to_be_in_viewport()
    no_sideways_scroll(page)
    page.screenshot(path=screenshot_dir / "inspector-768x1024.png")
    watch.assert_clean()


def test_at_150_percent_zoom_on_1280x720_the_main_views_stay_usable(
    browser: Browser, base_url: str, screenshot_dir: Path
) -> None:
    # 150 % browser zoom on a 1280×720 projector: a 853×480 CSS-pixel page, 1.5 device pixels each.
    zoomed = browser.new_context(
        base_url=base_url, viewport={"width": 853, "height": 480}, device_scale_factor=1.5
    )
    try:
        page = zoomed.new_page()
        open_page(page, TWO_TANH)
        page.get_by_role("button", name="Backward").click()
        backward_all_layers(page)
        no_sideways_scroll(page)
        diagram = page.locator("svg.network-svg")
        diagram.scroll_into_view_if_needed()
        box = diagram.bounding_box()
        assert box is not None and box["width"] >= 300 and box["height"] >= 240, box
        neuron = diagram.locator(".neuron").first.bounding_box()
        assert neuron is not None and neuron["width"] >= 16, neuron  # big enough to click
        click_edge(page, layer=1, index=10)
        inspector = page.locator(INSPECTOR)
        expect(inspector.locator("h3")).to_be_in_viewport(ratio=1)
        expect(inspector.locator("[data-field=dW_ij] .q-note")).to_contain_text("✓")
        # Scrolled to the gradient-flow panel (below the sticky top bar), it fits on screen.
        page.locator("#flow").evaluate("(n) => n.scrollIntoView({ block: 'start' })")
        expect(page.locator("#flow h2")).to_be_in_viewport(ratio=1)
        bar = page.locator("#flow .flow-bar").nth(0)
        bar.hover()
        readout = page.locator("#flow .flow-readout")
        expect(readout).to_have_attribute("data-kind", "factors")
        expect(readout).to_be_in_viewport()
        no_sideways_scroll(page)
        page.screenshot(path=screenshot_dir / "zoom-150-1280x720.png")
    finally:
        zoomed.close()
