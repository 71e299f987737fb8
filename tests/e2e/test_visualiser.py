"""The visualiser page against a live server: stepping, gradients, inspectors, play, links.

Every number the tests compare is read from what the page shows (text or data attributes)
and, where the issue asks for it, checked against the API's own answer.
"""

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Browser, Page, Route, WebSocket, expect

from tests.e2e.conftest import PageWatch, change_catalog

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


def test_changes_made_before_the_next_frame_all_stand(page: Page, watch: PageWatch) -> None:
    """Controls are redrawn at the next animation frame; a change made before it (two quick
    clicks, or a click while the browser is busy) builds on the one before, never undoes it."""
    open_page(page, TWO_TANH)
    # Four changes in one task: no frame, so no redraw of the controls, runs between them.
    page.evaluate(
        """() => {
        const change = (label, value) => {
          const node = document.querySelector(`[aria-label="${label}"]`);
          node.value = value;
          node.dispatchEvent(new Event("change", { bubbles: true }));
        };
        document.querySelector('[aria-label="Fewer neurons in layer 2"]').click();
        change("Activation of layer 1", "relu");
        change("Data seed", "7");
        change("Noise", "0.25");
    }"""
    )
    expect(page).to_have_url(re.compile(r"layers=8:relu,7:tanh"))
    query = parse_qs(urlsplit(page.url).query)
    assert (query["dseed"], query["noise"]) == (["7"], ["0.25"])
    settled(page)
    # The server's answer to the last change holds all four: the controls show it.
    expect(page.get_by_label("Neurons in layer 2", exact=True)).to_have_value("7")
    expect(page.get_by_label("Activation of layer 1")).to_have_value("relu")
    expect(page.get_by_label("Data seed")).to_have_value("7")
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
    # The four histograms on one canvas, each named in its text alternative with the number
    # of values it counts, which is the server's histogram of layer 1.
    histograms = inspector.locator("canvas.histogram-canvas")
    expect(histograms).to_have_attribute("data-drawn", "0,1,2,3")
    expect(inspector.locator(".histogram.empty")).to_have_count(0)  # no "not computed yet"
    label = histograms.get_attribute("aria-label") or ""
    summaries = server_trace(page)["layers"][0]["summaries"]
    for name, title in (("z", "z (pre-activation)"), ("dW", "dW = ∂L/∂W")):
        total = sum(summaries[name]["histogram"]["counts"])
        assert f"{title}: {total} values from " in label, (label, total)
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
    datasets = page.get_by_role("radiogroup", name="Dataset")
    expect(datasets.get_by_role("radio", checked=True)).to_have_count(0)
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
        # δ and dW exist once the backward pass has reached the weight's layer.
        page.get_by_role("button", name="Backward").click()
        backward_all_layers(page)
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


# The transport's words for the stages the server names in state.next.
STAGE_WORDS = {"forward": "Forward", "loss": "Loss", "backward": "Backward", "update": "Update"}


def server_state(page: Page) -> dict:
    session = page.locator("#app").get_attribute("data-session-id")
    return page.request.get(f"/api/sessions/{session}").json()["state"]


def server_trace(page: Page) -> dict:
    session = page.locator("#app").get_attribute("data-session-id")
    return page.request.get(f"/api/sessions/{session}/trace").json()


def test_next_stage_hint_and_ring_follow_the_server_through_a_whole_step(
    page: Page, watch: PageWatch
) -> None:
    open_page(page, TWO_TANH)  # three weight layers: forward ×3, loss, backward ×3, update
    hint = page.locator(".next-hint")
    ringed = page.locator(".transport .is-next")
    seen = []
    for _ in range(8):
        settled(page)
        word = STAGE_WORDS[server_state(page)["next"]["stage"]]
        seen.append(word)
        expect(hint).to_have_text(f"next: {word} (→)")
        expect(ringed).to_have_count(1)
        expect(ringed).to_have_text(re.compile(word))
        expect(ringed).to_be_enabled()
        page.keyboard.press("ArrowRight")
    assert seen == ["Forward"] * 3 + ["Loss"] + ["Backward"] * 3 + ["Update"], seen
    expect(page.locator(STATUS)).to_have_text("step 1 · update")
    settled(page)
    expect(hint).to_have_text("next: Forward (→)")
    watch.assert_clean()


def test_after_the_last_forward_layer_the_forward_button_runs_the_loss(
    page: Page, watch: PageWatch
) -> None:
    open_page(page, TWO_TANH)
    for _ in range(3):
        page.get_by_role("button", name="Forward").click()
        settled(page)
    expect(page.locator(STATUS)).to_have_text("step 0 · forward · output layer")
    expect(page.locator(".next-hint")).to_have_text("next: Loss (→)")
    expect(page.get_by_role("button", name="Forward")).to_have_count(0)
    loss = page.get_by_role("button", name="Loss")
    expect(loss).to_have_class(re.compile(r"\bis-next\b"))
    loss.click()
    expect(page.locator(STATUS)).to_have_text("step 0 · loss")
    settled(page)
    assert server_state(page)["stage"] == "loss"
    # In the backward half the Forward button is back to its name, greyed out.
    expect(page.get_by_role("button", name="Forward")).to_be_disabled()
    expect(page.locator(".next-hint")).to_have_text("next: Backward (→)")
    watch.assert_clean()


def test_no_dz_is_shown_before_the_backward_pass_reaches_a_layer(
    page: Page, watch: PageWatch
) -> None:
    open_page(page, TWO_TANH)
    for _ in range(4):  # forward through all three layers, then the loss
        page.keyboard.press("ArrowRight")
        settled(page)
    expect(page.locator(STATUS)).to_have_text("step 0 · loss")
    marks = page.locator("svg.network-svg .dz-mark")
    expect(marks).to_have_count(8 + 8 + 1)
    sizes = marks.evaluate_all("(ms) => ms.map((m) => [m.dataset.dz, m.getAttribute('r')])")
    assert {(dz, float(r)) for dz, r in sizes} == {("", 0.0)}  # no value, no marker
    # The loss stage opened the inspector's loss view; the selected layer is one tab away.
    page.get_by_role("tab", name="Selected").click()
    inspector = page.locator("#inspector .inspector-body")
    expect(inspector).to_have_attribute("data-layer", "0")
    expect(inspector.locator(".histogram.empty")).to_have_text(
        ["dz = ∂L/∂z: not computed yet", "dW = ∂L/∂W: not computed yet"]
    )
    expect(inspector.locator("[data-field=mean_abs_dz] dd")).to_have_text("not computed yet")
    bars = page.locator("#flow .flow-bar")
    for k in range(3):
        expect(bars.nth(k)).to_have_attribute("data-mean-abs-dz", "")

    page.keyboard.press("ArrowRight")  # backward through the output layer only
    expect(page.locator(STATUS)).to_have_text("step 0 · backward · output layer")
    settled(page)
    trace = server_trace(page)
    assert [layer["dz_mean_abs"] is None for layer in trace["layers"]] == [True, True, False]
    output = page.locator("svg.network-svg .column[data-column='3'] .dz-mark")
    assert [float(v) for v in output.evaluate_all("(ms) => ms.map((m) => m.dataset.dz)")] == (
        trace["layers"][2]["dz_mean_abs"]
    )
    hidden = page.locator("svg.network-svg .column[data-column='1'] .dz-mark")
    assert set(hidden.evaluate_all("(ms) => ms.map((m) => m.dataset.dz)")) == {""}
    expect(inspector.locator("[data-field=mean_abs_dz] dd")).to_have_text("not computed yet")
    expect(bars.nth(2)).to_have_attribute(
        "data-mean-abs-dz", str(trace["layers"][2]["mean_abs_dz"])
    )
    watch.assert_clean()


def test_switching_to_one_dimensional_data_keeps_only_the_features_it_can_feed(
    page: Page, watch: PageWatch
) -> None:
    open_page(page, "/?data=circle&features=x1,x2,x1_sq,x1x2&layers=4:tanh")
    catalog = page.request.get("/api/catalog").json()
    usable = next(d for d in catalog["datasets"] if d["name"] == "sine")["features"]
    page.get_by_role("radio", name="sine").click()
    expect(page.locator(STATUS)).to_have_text(re.compile(r"^step 0 · ready"))
    settled(page)
    expect(page).to_have_url(re.compile(r"features=x1,x1_sq(&|$)"))
    boxes = page.locator(".features input[type=checkbox]")
    for k in range(boxes.count()):
        box = boxes.nth(k)
        name = box.get_attribute("value")
        if name in usable:
            expect(box).to_be_enabled()
        else:
            expect(box).to_be_disabled()
    checked = boxes.evaluate_all("(bs) => bs.filter((b) => b.checked).map((b) => b.value)")
    assert checked == ["x1", "x1_sq"]
    session = page.locator("#app").get_attribute("data-session-id")
    assert page.request.get(f"/api/sessions/{session}").json()["config"]["features"] == checked
    expect(page.locator("svg.network-svg .input-label")).to_have_text(["x₁", "x₁²"])
    expect(page.locator("canvas.boundary")).to_have_attribute("data-task", "regression")
    # Back to 2-D data, which feeds more: the default features that fit, x2 included again.
    page.get_by_role("radio", name="circle").click()
    expect(page).to_have_url(re.compile(r"features=x1,x2(&|$)"))
    settled(page)
    expect(page.get_by_role("checkbox", name="x₂", exact=True)).to_be_enabled()
    watch.assert_clean()


def test_a_live_field_changed_while_playing_applies_without_a_rebuild(
    page: Page, watch: PageWatch
) -> None:
    sockets = []
    page.on("websocket", lambda socket: sockets.append(socket))
    open_page(page, TWO_TANH + "&batch=16&speed=2")
    session = page.locator("#app").get_attribute("data-session-id")
    page.get_by_role("button", name="Play").click()
    status = page.locator(STATUS)
    expect(status).not_to_have_attribute("data-step", re.compile(r"^[0-2]$"))
    changed_at = step_status(page)
    page.get_by_label("Batch size", exact=True).select_option("4")
    expect(page).to_have_url(re.compile(r"batch=4(&|$)"))
    # Training went on: same session, same socket, the step count kept climbing from there.
    expect(status).to_contain_text("playing")
    expect(status).not_to_have_attribute(
        "data-step", re.compile(rf"^({'|'.join(str(s) for s in range(changed_at + 3))})$")
    )
    page.get_by_role("button", name="Pause").click()
    expect(status).not_to_contain_text("playing")
    settled(page)
    assert page.locator("#app").get_attribute("data-session-id") == session
    assert len(sockets) == 1
    answer = page.request.get(f"/api/sessions/{session}").json()
    assert answer["config"]["batch_size"] == 4
    # No rebuild: the history still holds every step from the first one.
    history = page.request.get(f"/api/sessions/{session}/history").json()
    assert history["total"] == answer["state"]["step"] > changed_at
    expect(page.locator("#controls")).to_have_attribute("aria-busy", "false")
    expect(page.get_by_label("Batch size", exact=True)).to_have_value("4")
    watch.assert_clean()


def test_which_fields_apply_live_comes_from_the_catalog(page: Page, watch: PageWatch) -> None:
    """With a catalog listing no live field, a change while playing stops, applies, resumes."""

    change_catalog(page, "(catalog) => ({...catalog, live_fields: []})")
    sockets: list[WebSocket] = []
    page.on("websocket", lambda socket: sockets.append(socket))
    open_page(page, TWO_TANH + "&speed=2")
    page.get_by_role("button", name="Play").click()
    expect(page.locator(STATUS)).to_contain_text("playing")
    with page.expect_websocket():  # playing starts again on a new connection
        page.get_by_label("Learning rate", exact=True).select_option("0.1")
    expect(page).to_have_url(re.compile(r"lr=0\.1(&|$)"))
    expect(page.locator(STATUS)).to_contain_text("playing")
    page.get_by_role("button", name="Pause").click()
    expect(page.locator(STATUS)).not_to_contain_text("playing")
    settled(page)
    assert len(sockets) == 2
    session = page.locator("#app").get_attribute("data-session-id")
    assert page.request.get(f"/api/sessions/{session}").json()["config"]["learning_rate"] == 0.1
    watch.assert_clean()


def test_a_config_change_shows_at_once_and_the_server_answer_replaces_it(
    page: Page, watch: PageWatch
) -> None:
    open_page(page, TWO_TANH + "&lr=0.03")
    held: list[Route] = []

    def hold_patches(route: Route) -> None:
        if route.request.method == "PATCH":
            held.append(route)
        else:
            route.continue_()

    page.route("**/api/sessions/*", hold_patches)
    page.get_by_label("Learning rate", exact=True).select_option("0.1")
    # While the server has not answered: the link and the control show the choice, the setup
    # panel says it is waiting.
    expect(page).to_have_url(re.compile(r"lr=0\.1(&|$)"))
    controls = page.locator("#controls")
    expect(controls).to_have_attribute("aria-busy", "true")
    for _ in range(200):  # each call lets Playwright hand the held request to the handler
        if held:
            break
        page.evaluate("0")
    assert len(held) == 1
    expect(page.get_by_label("Learning rate", exact=True)).to_have_value("0.1")
    held[0].continue_()
    expect(controls).to_have_attribute("aria-busy", "false")
    settled(page)
    expect(page.get_by_label("Learning rate", exact=True)).to_have_value("0.1")
    expect(page.locator(STATUS)).to_have_text(re.compile(r"^step 0 · ready"))
    watch.assert_clean()


def test_a_page_without_its_catalog_says_so(page: Page) -> None:
    # A page served without its embedded catalog asks the API for it; the API is down.
    change_catalog(page, "() => null")
    page.route("**/api/catalog", lambda route: route.fulfill(status=503, body="down"))
    page.goto("/")
    expect(page.locator(".error-banner")).to_contain_text("Could not load the catalog")
    expect(page.locator(STATUS)).to_have_text("Could not reach the server")
    expect(page.locator("#controls select")).to_have_count(0)
