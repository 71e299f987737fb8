"""The visualiser page against a live server: stepping, gradients, inspectors, play, links.

Every number the tests compare is read from what the page shows (text or data attributes)
and, where the issue asks for it, checked against the API's own answer.
"""

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import PageWatch

STATUS = "[role=status]"
# Tests that count columns or read the link pin the network instead of trusting the defaults.
TWO_TANH = "/?layers=8:tanh,8:tanh&data=circle"
DEEP_SIGMOID = "/?layers=8:sigmoid*10&init=xavier_uniform&opt=sgd&lr=0.1&data=circle"
DEEP_RELU_HE = "/?layers=8:relu*10&init=he_normal&opt=sgd&lr=0.1&data=circle"


def settled(page: Page) -> None:
    """Wait until every request the page queued has been answered and drawn."""
    expect(page.locator("#app")).to_have_attribute("aria-busy", "false")


def open_page(page: Page, path: str = "/") -> None:
    page.goto(path)
    expect(page.locator(STATUS)).to_have_text(re.compile(r"^step 0 · ready"))
    settled(page)


def step_status(page: Page) -> int:
    return int(page.locator(STATUS).get_attribute("data-step") or "0")


def backward_all_layers(page: Page) -> None:
    """Press → until the backward pass has reached the first layer.

    Each press is answered before the status is read again: a press still queued when the
    status first says "layer 1" would otherwise run the update too.
    """
    for _ in range(40):
        settled(page)
        if (page.locator(STATUS).text_content() or "").endswith("backward · layer 1"):
            return
        page.keyboard.press("ArrowRight")
    pytest.fail("the backward pass never reached layer 1")


def click_edge(page: Page, layer: int, index: int) -> None:
    """Click an edge of a weight layer 30% along its length (a midpoint can be a crossing)."""
    line = page.locator(f"svg.network-svg g.edges[data-layer='{layer}'] line").nth(index)
    x1, y1, x2, y2 = (float(line.get_attribute(a) or 0) for a in ("x1", "y1", "x2", "y2"))
    box = page.locator("svg.network-svg").bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + x1 + 0.3 * (x2 - x1), box["y"] + y1 + 0.3 * (y2 - y1))


def grad_norms(page: Page) -> list[float]:
    """‖dW‖ per layer as the gradient-flow panel shows it (first layer first)."""
    bars = page.locator("#flow .flow-bar")
    expect(bars.last).not_to_have_attribute("data-grad-norm", "")
    return [
        float(bars.nth(k).get_attribute("data-grad-norm") or "nan") for k in range(bars.count())
    ]


def test_forward_stepping_changes_status_and_diagram(page: Page, watch: PageWatch) -> None:
    open_page(page, TWO_TANH)
    diagram = page.locator("svg.network-svg")
    expect(diagram).to_have_attribute("data-columns", "4")
    page.get_by_role("button", name="Forward").click()
    expect(page.locator(STATUS)).to_have_text("step 0 · forward · layer 1")
    expect(diagram).to_have_attribute("data-lit", "2")
    expect(diagram.locator(".column[data-column='2']")).to_have_attribute("data-state", "dim")
    page.get_by_role("button", name="Forward").click()
    expect(page.locator(STATUS)).to_have_text("step 0 · forward · layer 2")
    expect(diagram).to_have_attribute("data-lit", "3")
    expect(diagram.locator(".column[data-column='2']")).to_have_attribute("data-state", "lit")
    watch.assert_clean()


def test_backward_stepping_fills_in_gradients(page: Page, watch: PageWatch) -> None:
    open_page(page, TWO_TANH)
    bars = page.locator("#flow .flow-bar")
    expect(bars).to_have_count(3)
    expect(bars.last).to_have_attribute("data-grad-norm", "")
    page.get_by_role("button", name="Backward").click()
    expect(page.locator(STATUS)).to_have_text("step 0 · backward · output layer")
    expect(bars.last).not_to_have_attribute("data-grad-norm", "")
    expect(bars.first).to_have_attribute("data-grad-norm", "")
    backward_all_layers(page)
    norms = grad_norms(page)
    assert all(n > 0 for n in norms), norms
    # The dz markers in the diagram carry the same backward numbers.
    expect(page.locator("svg.network-svg .dz-mark[data-dz]").first).not_to_have_attribute(
        "data-dz", ""
    )
    watch.assert_clean()


def test_deep_sigmoid_vanishes_and_relu_he_does_not(page: Page, watch: PageWatch) -> None:
    open_page(page, DEEP_SIGMOID)
    expect(page.locator("#flow .flow-bar")).to_have_count(11)
    page.get_by_role("button", name="Backward").click()
    backward_all_layers(page)
    sigmoid = grad_norms(page)
    assert sigmoid[0] * 1000 <= sigmoid[-1], sigmoid

    open_page(page, DEEP_RELU_HE)
    expect(page.locator("#flow .flow-bar")).to_have_count(11)
    page.get_by_role("button", name="Backward").click()
    backward_all_layers(page)
    relu = grad_norms(page)
    assert relu[0] * 1000 > relu[-1], relu
    watch.assert_clean()


def test_play_then_pause_advances_the_step_counter(page: Page, watch: PageWatch) -> None:
    open_page(page)
    play = page.get_by_role("button", name="Play")
    play.click()
    status = page.locator(STATUS)
    expect(status).to_contain_text("playing")
    expect(status).not_to_have_attribute("data-step", re.compile(r"^[0-4]$"))
    page.get_by_role("button", name="Pause").click()
    expect(status).not_to_contain_text("playing")
    expect(page.get_by_role("button", name="Play")).to_be_enabled()
    paused_at = step_status(page)
    assert paused_at >= 5
    # Paused means paused: stepping by hand continues from exactly there.
    page.get_by_role("button", name="Step").click()
    expect(status).to_have_attribute("data-step", str(paused_at + 1))
    watch.assert_clean()


def test_structural_change_rebuilds_the_network(page: Page, watch: PageWatch) -> None:
    open_page(page, TWO_TANH)
    page.get_by_role("button", name="Step").click()
    expect(page.locator(STATUS)).to_have_attribute("data-step", "1")
    page.get_by_role("button", name="More hidden layers").click()
    expect(page.locator(STATUS)).to_have_text(re.compile(r"^step 0 · ready"))
    expect(page.locator("svg.network-svg")).to_have_attribute("data-columns", "5")
    expect(page.locator("#flow .flow-bar")).to_have_count(4)
    expect(page).to_have_url(re.compile(r"layers=8:tanh,8:tanh,8:tanh"))
    # A hyperparameter applies live: no rebuild, the step count stays.
    page.get_by_role("button", name="Step").click()
    expect(page.locator(STATUS)).to_have_attribute("data-step", "1")
    page.get_by_label("Learning rate", exact=True).select_option("0.1")
    expect(page).to_have_url(re.compile(r"lr=0\.1(&|$)"))
    expect(page.locator(STATUS)).to_have_attribute("data-step", "1")
    watch.assert_clean()


def test_url_reproduces_the_setup_in_a_new_browser(
    page: Page, watch: PageWatch, browser: Browser, base_url: str
) -> None:
    open_page(page, TWO_TANH)
    page.get_by_role("radio", name="xor").click()
    expect(page).to_have_url(re.compile(r"data=xor"))
    page.get_by_role("button", name="Fewer neurons in layer 2").click()
    expect(page).to_have_url(re.compile(r"layers=8:tanh,7:tanh"))
    page.get_by_label("Activation of layer 1").select_option("relu")
    expect(page).to_have_url(re.compile(r"layers=8:relu,7:tanh"))
    settled(page)
    expect(page.locator(STATUS)).to_have_text(re.compile(r"^step 0 · ready"))
    link = page.url
    loss = page.locator(".loss-readout").text_content()

    fresh = browser.new_context(base_url=base_url, viewport={"width": 1280, "height": 800})
    try:
        other = fresh.new_page()
        other.goto(link)
        expect(other.locator(STATUS)).to_have_text(re.compile(r"^step 0 · ready"))
        settled(other)
        expect(other.get_by_role("radio", name="xor")).to_have_attribute("aria-checked", "true")
        expect(other.locator("svg.network-svg")).to_have_attribute("data-columns", "4")
        # Same config and seeds → same initial weights → the same loss, digit for digit.
        expect(other.locator(".loss-readout")).to_have_text(loss or "")
        assert parse_qs(urlsplit(other.url).query) == parse_qs(urlsplit(link).query)
    finally:
        fresh.close()
    watch.assert_clean()


def test_clicking_an_edge_shows_the_chain_rule_numbers_of_the_api(
    page: Page, watch: PageWatch
) -> None:
    open_page(page, TWO_TANH)
    page.get_by_role("button", name="Backward").click()
    backward_all_layers(page)
    click_edge(page, layer=1, index=10)
    inspector = page.locator("#inspector .inspector-body")
    expect(inspector).to_have_attribute("data-kind", "edge")
    expect(inspector.locator("[data-field=dW_ij]")).not_to_have_attribute("data-value", "")
    layer, i, j, sample = (
        inspector.get_attribute(f"data-{k}") for k in ("layer", "i", "j", "sample")
    )
    session = page.locator("#app").get_attribute("data-session-id")
    chain = page.request.get(
        f"/api/sessions/{session}/chain?layer={layer}&i={i}&j={j}&sample={sample}"
    ).json()
    for field in ("a_i", "fprime_z_j", "downstream", "delta_j", "batch_average", "dW_ij"):
        shown = float(
            inspector.locator(f"[data-field={field}]").get_attribute("data-value") or "nan"
        )
        assert shown == chain[field], (field, shown, chain[field])
    assert chain["batch_average"] == pytest.approx(chain["dW_ij"], rel=1e-12, abs=1e-15)
    expect(inspector.locator("[data-field=dW_ij] .q-note")).to_contain_text("✓")
    watch.assert_clean()


def test_layer_inspector_shows_histograms_and_activation(page: Page, watch: PageWatch) -> None:
    open_page(page, TWO_TANH)
    page.get_by_role("button", name="Backward").click()
    backward_all_layers(page)
    neuron = page.locator("svg.network-svg .column[data-column='1'] .neuron").first
    box = neuron.bounding_box()
    assert box is not None
    # The heatmap under the outline takes the click; the diagram hit-tests by position.
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    inspector = page.locator("#inspector .inspector-body")
    expect(inspector).to_have_attribute("data-kind", "layer")
    expect(inspector.locator("svg.histogram")).to_have_count(4)
    expect(inspector.locator("svg.activation-plot path.curve-fprime")).to_have_count(1)
    expect(inspector.locator("[data-field=dead_fraction] dd")).to_have_text(re.compile(r"%$"))
    watch.assert_clean()


def test_classroom_link_hides_chosen_controls(page: Page, watch: PageWatch) -> None:
    open_page(page, "/?hide=lr,optimizer,play")
    expect(page.get_by_label("Learning rate", exact=True)).to_be_hidden()
    expect(page.get_by_label("Optimiser", exact=True)).to_be_hidden()
    expect(page.get_by_role("button", name="Play")).to_be_hidden()
    expect(page.get_by_label("Batch size", exact=True)).to_be_visible()
    watch.assert_clean()


def test_help_overlay_lists_the_shortcuts(page: Page, watch: PageWatch) -> None:
    open_page(page)
    page.keyboard.press("?")
    help_dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(help_dialog).to_be_visible()
    for key in ("Space", "→", "Shift", "r"):
        expect(help_dialog.locator("kbd", has_text=key).first).to_be_visible()
    page.keyboard.press("Escape")
    expect(help_dialog).to_be_hidden()
    page.keyboard.press("Shift+ArrowRight")
    expect(page.locator(STATUS)).to_have_attribute("data-step", "1")
    page.keyboard.press("r")
    expect(page.locator(STATUS)).to_have_attribute("data-step", "0")
    watch.assert_clean()


def test_hyperparameter_applies_live_while_playing(page: Page, watch: PageWatch) -> None:
    open_page(page, TWO_TANH + "&lr=0.03&speed=2")
    page.get_by_role("button", name="Play").click()
    status = page.locator(STATUS)
    expect(status).to_contain_text("playing")
    page.get_by_label("Learning rate", exact=True).select_option("0.1")
    expect(page).to_have_url(re.compile(r"lr=0\.1(&|$)"))
    expect(status).to_contain_text("playing")  # not stopped, not rebuilt
    expect(status).not_to_have_attribute("data-step", re.compile(r"^[0-9]$"))
    page.get_by_role("button", name="Pause").click()
    expect(status).not_to_contain_text("playing")
    settled(page)
    session = page.locator("#app").get_attribute("data-session-id")
    config = page.request.get(f"/api/sessions/{session}").json()["config"]
    assert config["learning_rate"] == 0.1
    watch.assert_clean()


def test_next_action_is_marked_when_only_update_is_left(page: Page, watch: PageWatch) -> None:
    open_page(page, TWO_TANH)
    forward = page.get_by_role("button", name="Forward")
    update = page.get_by_role("button", name="Update")
    hint = page.locator(".next-hint")
    expect(forward).to_have_class(re.compile(r"\bis-next\b"))
    expect(hint).to_have_text("next: Forward (→)")
    page.get_by_role("button", name="Backward").click()
    backward_all_layers(page)
    # Both arrows are greyed out here; the page must point at Update instead of leaving a gap.
    expect(forward).to_be_disabled()
    expect(page.get_by_role("button", name="Backward")).to_be_disabled()
    expect(update).to_have_class(re.compile(r"\bis-next\b"))
    expect(page.locator(".transport .is-next")).to_have_count(1)
    expect(hint).to_have_text("next: Update (→)")
    update.click()
    expect(page.locator(STATUS)).to_have_text("step 1 · update")
    expect(forward).to_have_class(re.compile(r"\bis-next\b"))
    expect(hint).to_have_text("next: Forward (→)")
    watch.assert_clean()


def test_layer_names_agree_across_status_diagram_and_panels(page: Page, watch: PageWatch) -> None:
    open_page(page, TWO_TANH)
    labels = page.locator("svg.network-svg .column-label")
    expect(labels).to_have_text(["Input", "Layer 1", "Layer 2", "Output"])
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    expect(page.locator(STATUS)).to_have_text("step 0 · forward · output layer")
    page.keyboard.press("Shift+ArrowRight")
    expect(page.locator(STATUS)).to_have_attribute("data-step", "1")
    expect(page.locator("#flow .flow-bar .tick")).to_have_text(["L1", "L2", "out"])
    # The heat strip names its top row as the bars do: the output layer, not a third "L".
    expect(page.locator(".flow-strip-label")).to_contain_text("rows out (top) … L1")
    watch.assert_clean()


def test_csv_upload_replaces_the_data(page: Page, watch: PageWatch) -> None:
    open_page(page, TWO_TANH)
    rows = "x1,y\n" + "\n".join(f"{x / 10},{(x / 10) ** 2 / 10}" for x in range(-40, 40))
    upload = page.get_by_label("Upload CSV data")
    upload.set_input_files(
        files=[{"name": "parabola.csv", "mimeType": "text/csv", "buffer": rows.encode()}]
    )
    expect(page.locator(".upload")).to_have_text("CSV ✓ 80 rows")
    expect(page.locator(STATUS)).to_have_text(re.compile(r"^step 0 · ready"))
    settled(page)
    # One input column (x1), a regression surface, no dataset thumbnail still checked.
    expect(page.locator("svg.network-svg .input-label")).to_have_count(1)
    expect(page.locator("canvas.boundary")).to_have_attribute("data-task", "regression")
    expect(page.get_by_role("radio", checked=True)).to_have_count(0)
    expect(page.locator(".accuracy")).to_be_hidden()
    page.keyboard.press("Shift+ArrowRight")
    expect(page.locator(STATUS)).to_have_attribute("data-step", "1")
    page.get_by_role("button", name="Share").click()
    expect(page.locator(".share-note")).to_be_visible()
    watch.assert_clean()


def test_tablet_shows_the_chain_rule_without_scrolling_and_has_touch_sized_targets(
    browser: Browser, base_url: str
) -> None:
    tablet = browser.new_context(
        base_url=base_url, viewport={"width": 1024, "height": 768}, has_touch=True
    )
    try:
        page = tablet.new_page()
        open_page(page, "/?data=xor&layers=6:tanh,6:tanh")
        click_edge(page, layer=1, index=7)
        quantity = page.locator("#inspector [data-field=dW_ij]")
        expect(quantity).not_to_have_attribute("data-value", "")
        expect(page.locator("#inspector h3")).to_be_in_viewport()
        expect(page.locator("#inspector [data-field=delta_j]")).to_be_in_viewport()
        assert page.evaluate("document.documentElement.scrollWidth") <= 1024
        small = page.evaluate(
            """() => [...document.querySelectorAll(
                 'button, select, input[type=number], input[type=range], .chip, .check')]
               .filter((e) => e.offsetParent && !e.closest('dialog'))
               .map((e) => [e.getAttribute('aria-label') || e.textContent.trim(),
                            e.getBoundingClientRect()])
               .filter(([, r]) => Math.min(r.width, r.height) < 32)
               .map(([name, r]) => `${name} ${Math.round(r.width)}×${Math.round(r.height)}`)"""
        )
        assert small == [], small
    finally:
        tablet.close()


def test_menus_show_friendly_names_and_keep_engine_values(page: Page, watch: PageWatch) -> None:
    open_page(page, "/?layers=8:relu,8:relu&init=he_normal&opt=sgd&data=circle")
    init = page.get_by_label("Weight initialiser")
    expect(init.locator("option[value=xavier_uniform]")).to_have_text("Xavier uniform")
    expect(init.locator("option[value=lecun_normal]")).to_have_text("LeCun normal")
    expect(init.locator("option:checked")).to_have_text("He normal")
    expect(init).to_have_value("he_normal")
    activation = page.get_by_label("Activation of layer 1")
    expect(activation.locator("option:checked")).to_have_text("ReLU")
    expect(activation.locator("option[value=gelu]")).to_have_text("GELU (tanh approx.)")
    expect(page.get_by_label("Optimiser", exact=True).locator("option:checked")).to_have_text("SGD")
    loss = page.get_by_label("Loss function")
    expect(loss.locator("option:checked")).to_have_text("default: Binary cross-entropy")
    expect(loss.locator("option[value=mse]")).to_have_text("MSE")
    # The chosen loss reads in full at 1280 wide: its text plus the arrow fits the box (±2 px).
    spare = loss.evaluate(
        """(node) => {
             const ctx = document.createElement('canvas').getContext('2d');
             ctx.font = getComputedStyle(node).font;
             return node.clientWidth - ctx.measureText(node.selectedOptions[0].text).width;
           }"""
    )
    assert spare >= 22, spare
    page.get_by_label("Activation of layer 1").select_option("swish")
    settled(page)
    expect(page.get_by_label("Activation of layer 1")).to_have_value("swish")
    expect(page.locator("svg.network-svg .activation-label").nth(1)).to_have_text("Swish / SiLU")
    expect(page.locator("svg.network-svg .activation-label").nth(2)).to_have_text("ReLU")
    watch.assert_clean()


def test_uploaded_csv_disables_noise_and_samples_until_a_built_in_dataset(
    page: Page, watch: PageWatch
) -> None:
    open_page(page, TWO_TANH)
    noise = page.get_by_label("Noise", exact=True)
    samples = page.get_by_label("Number of samples")
    split = page.get_by_label("Training data fraction")
    expect(noise).to_be_enabled()
    rows = "x1,x2,label\n0,0,0\n0,1,1\n1,0,1\n1,1,0\n"
    page.get_by_label("Upload CSV data").set_input_files(
        files=[{"name": "xor.csv", "mimeType": "text/csv", "buffer": rows.encode()}]
    )
    expect(page.locator(".upload")).to_have_text("CSV ✓ 4 rows")
    expect(noise).to_be_disabled()
    expect(samples).to_be_disabled()
    expect(noise).to_have_attribute("aria-description", "fixed by the uploaded data")
    expect(split).to_be_enabled()
    page.locator("[data-dataset=circle]").click()
    # Only the server's answer counts: the optimistic redraw would pass before a rejection.
    expect(page.locator(STATUS)).to_have_text(re.compile(r"^step 0 · ready"))
    settled(page)
    expect(page.locator("[data-dataset=circle]")).to_have_attribute("aria-checked", "true")
    expect(page.locator(".upload")).to_have_text("Upload CSV…")
    expect(samples).to_have_value("400")
    expect(noise).to_be_enabled()
    expect(samples).to_be_enabled()
    expect(noise).not_to_have_attribute("aria-description", re.compile("."))
    settled(page)
    watch.assert_clean()
