"""Front-end benchmark: frame render time, page weight and first render, in headless Chromium.

Starts a server on a free loopback port, opens the page in the same Chromium (same flags) as
the end-to-end tests, and measures inside the page with performance.now():

- one frame of the network diagram for 6 hidden layers × 8 neurons with every neuron's
  heatmap repainted (fresh trace and boundary objects each frame, so no cache helps): the
  main thread's part (the edge canvas is painted by the edge painter's worker, off this
  thread, and is not timed here);
- the page's own JavaScript and CSS, as loaded (uncompressed bytes);
- first render: navigation start → the page fully drawn from the API (performance mark).

Run: python -m benchmarks.frontend_bench [--frames 300] [--loads 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import start_server, stop_server  # noqa: E402
from tests.e2e.conftest import CHROMIUM, CHROMIUM_FLAGS  # noqa: E402

SETUP = "/?layers=8:tanh*6&data=spiral"
TARGET_FRAME_MS = 8.0
TARGET_BYTES = 150 * 1024
TARGET_FIRST_RENDER_MS = 1000.0

# Runs in the page: builds a second NetworkView off-screen-equivalent (same size as the real
# one) and times update() plus the forced style/layout it triggers, frame after frame.
FRAME_BENCH = """
async ({frames, grid, hiddenGrid}) => {
  const { NetworkView } = await import("/static/js/network-view.js");
  const { normaliseCatalog } = await import("/static/js/catalog.js");
  const { readUrl } = await import("/static/js/url-state.js");
  const getJson = async (path, init) => (await fetch(path, init)).json();
  const catalog = normaliseCatalog(await getJson("/api/catalog"));
  const { config, view } = readUrl(location.search, catalog.defaults);
  const post = (path, body) => getJson(path, {method: "POST",
    headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)});
  const session = await post("/api/sessions", config);
  const id = session.id;
  const payloads = [];
  for (let k = 0; k < 2; k++) {
    await post(`/api/sessions/${id}/step`, {steps: 1});
    const sim = await post(`/api/sessions/${id}/backward`, {layers: "all"});
    const trace = await getJson(`/api/sessions/${id}/trace`);
    const query = `grid=${grid}&hidden_grid=${hiddenGrid}`;
    const boundary = await getJson(`/api/sessions/${id}/boundary?${query}`);
    payloads.push({sim, trace, boundary});
  }
  const panel = document.querySelector("#network").cloneNode(true);
  panel.id = "network-bench";
  document.querySelector("#network").replaceWith(panel);
  const view_ = new NetworkView(panel, {onSelect: () => {}});
  const times = [];
  for (let f = 0; f < frames; f++) {
    const p = payloads[f % 2];
    // Fresh objects: every frame decodes and paints every heatmap, as when playing.
    const state = {catalog, config: session.config, sessionId: id, sim: p.sim,
      trace: structuredClone(p.trace), boundary: structuredClone(p.boundary),
      view: {...view, edges: f % 4 < 2 ? "W" : "dW"}, selection: null, playing: true};
    const start = performance.now();
    view_.update(state);
    panel.querySelector("svg").getBoundingClientRect(); // include style + layout
    times.push(performance.now() - start);
  }
  const neurons = panel.querySelectorAll(".neuron").length;
  const edges = panel.querySelectorAll(".edges line").length;
  return {times, neurons, edges};
}
"""

# Which of the page's own files it loaded (sizes are then read from disk: cache hits report 0).
LOADED_FILES = """
() => performance.getEntriesByType("resource")
  .map((e) => new URL(e.name).pathname)
  .filter((path) => /^\\/static\\/.*\\.(js|css)$/.test(path))
"""

FIRST_RENDER = """
() => performance.getEntriesByName("backprop-lab:first-render")[0]?.startTime ?? null
"""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=300, help="frames to time (default 300)")
    parser.add_argument("--loads", type=int, default=5, help="page loads for first render")
    parser.add_argument("--grid", type=int, default=64, help="output grid side (page: 64)")
    parser.add_argument(
        "--hidden-grid", type=int, default=24, help="neuron thumbnail grid side (page: 24)"
    )
    args = parser.parse_args(argv)

    process, url = start_server()
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
            context = browser.new_context(viewport={"width": 1280, "height": 800})
            page = context.new_page()

            first_renders = []
            loaded: set[str] = set()
            for _ in range(args.loads):
                page.goto(url + SETUP)
                page.wait_for_selector("svg.network-svg .neuron")
                page.locator("[role=status]").filter(has_text="step 0").wait_for()
                page.wait_for_load_state("networkidle")
                mark = None
                while mark is None:
                    mark = page.evaluate(FIRST_RENDER)
                first_renders.append(float(mark))
                loaded |= set(page.evaluate(LOADED_FILES))

            # Warm-up run (JIT), then the measured run.
            page.evaluate(
                FRAME_BENCH, {"frames": 20, "grid": args.grid, "hiddenGrid": args.hidden_grid}
            )
            page.goto(url + SETUP)
            page.locator("[role=status]").filter(has_text="step 0").wait_for()
            result = page.evaluate(
                FRAME_BENCH,
                {"frames": args.frames, "grid": args.grid, "hiddenGrid": args.hidden_grid},
            )
            browser.close()
    finally:
        stop_server(process)

    times = result["times"]
    total_bytes = sum((ROOT / path.lstrip("/")).stat().st_size for path in loaded)
    frame_mean = statistics.fmean(times)
    frame_p95 = percentile(times, 0.95)
    first = statistics.median(first_renders)
    print(
        f"network: {result['neurons']} neurons, {result['edges']} edges, "
        f"heatmaps {args.hidden_grid}² (output {args.grid}²)"
    )
    print(
        f"frame render: mean {frame_mean:.2f} ms, median {statistics.median(times):.2f} ms, "
        f"p95 {frame_p95:.2f} ms over {len(times)} frames (target ≤ {TARGET_FRAME_MS:.0f} ms)"
    )
    print(
        f"page JS + CSS: {total_bytes / 1024:.1f} KB in {len(loaded)} files, uncompressed "
        f"(target ≤ {TARGET_BYTES // 1024} KB)"
    )
    print(
        f"first render: median {first:.0f} ms over {len(first_renders)} loads "
        f"(min {min(first_renders):.0f}, max {max(first_renders):.0f}; "
        f"target ≤ {TARGET_FIRST_RENDER_MS:.0f} ms)"
    )
    ok = frame_mean <= TARGET_FRAME_MS and total_bytes <= TARGET_BYTES
    ok = ok and first <= TARGET_FIRST_RENDER_MS
    print("all targets met" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
