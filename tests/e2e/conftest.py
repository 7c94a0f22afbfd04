"""Browser tests: Playwright (sync API) driving Debian's headless Chromium against a live server.

Fixtures for every `tests/e2e/test_*.py`:
- `live_server` (pytest-django): a real HTTP server on the test PostgreSQL; tests using it are
  transactional (data created in the test is committed, so the server thread sees it).
- `browser`: one headless Chromium per test session, started from /usr/bin/chromium
  (installed by scripts/ensure-system-packages.sh; never `playwright install`).
- `page`: a fresh browser context and page per test, 1280x900, with `page.base_url` = live server URL.
- `sign_in(page, user, password=PASSWORD)`: signs in through the sign-in form and waits for the dashboard.
- `screenshot(page, name)`: writes var/test-artifacts/screenshots/<name>.png (full page) and returns its path.

If Chromium is missing the tests are skipped with the reason (run scripts/ensure-system-packages.sh).
"""

import os
import re
from pathlib import Path

import pytest

from tests.factories.accounts import UserFactory  # noqa: F401 - handy for e2e test modules

# Django refuses ORM calls from inside an event loop; Playwright's sync API runs one in a helper
# thread, which makes Django believe it is in an async context in the test thread.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = Path(os.environ.get("DOCKET_CHROMIUM", "/usr/bin/chromium"))
PASSWORD = "correct-horse-battery-staple"  # UserFactory's password
SCREENSHOT_DIR = Path(__file__).resolve().parents[2] / "var" / "test-artifacts" / "screenshots"


@pytest.fixture(scope="session")
def _playwright():
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: run scripts/ensure-system-packages.sh as root")
    manager = sync_api.sync_playwright().start()
    yield manager
    manager.stop()


@pytest.fixture(scope="session")
def browser(_playwright):
    browser = _playwright.chromium.launch(
        executable_path=str(CHROMIUM),
        headless=True,
        args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
    )
    yield browser
    browser.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=live_server.url)
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.base_url = live_server.url
    yield page
    context.close()


@pytest.fixture
def sign_in():
    """sign_in(page, user, password=PASSWORD): signs in via the form; asserts the dashboard shows."""

    def _sign_in(page, user, password: str = PASSWORD, next_path: str = "/"):
        page.goto(f"/accounts/login/?next={next_path}")
        page.get_by_label("Username").fill(user.username)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_load_state("domcontentloaded")
        if password == PASSWORD:
            page.get_by_role("button", name="Sign out").wait_for()
        return page

    return _sign_in


@pytest.fixture
def screenshot(request):
    """screenshot(page, name): full-page PNG under var/test-artifacts/screenshots/; returns the path."""
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)

    def _screenshot(page, name: str) -> Path:
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-")
        path = SCREENSHOT_DIR / f"{safe}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return _screenshot
