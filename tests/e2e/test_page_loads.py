"""The page loads cleanly: no console errors, nothing requested from another host."""

import re

from playwright.sync_api import Page, expect

from tests.e2e.conftest import PageWatch


def test_page_loads_without_errors_or_foreign_requests(page: Page, watch: PageWatch) -> None:
    page.goto("/")
    expect(page).to_have_title(re.compile("Backprop Lab"))
    # The step-and-stage status region says where training is once the session exists.
    expect(page.locator("#status[role=status]")).to_have_text(re.compile(r"^step 0 · "))
    page.wait_for_load_state("networkidle")
    watch.assert_clean()


def test_api_docs_are_served_offline(page: Page, watch: PageWatch) -> None:
    page.goto("/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Backprop Lab")
    page.wait_for_load_state("networkidle")
    watch.assert_clean()
