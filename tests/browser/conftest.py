"""Browser tests: Playwright (sync API) driving Debian's Chromium against pytest-django's live server.

Every page a test visits is saved as a full-page screenshot under test-artifacts/screenshots/, named
`<test>-<page>.png`, so anyone can look at the pages after `make test`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from django.conf import settings

# Playwright's sync API runs an event loop in this thread; Django refuses ORM calls from a thread with
# a running loop unless told that this is deliberate.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

from inference.model_manager import ModelManager  # noqa: E402
from tests.factories.users import TEST_PASSWORD, make_user  # noqa: E402
from tests.inference.conftest import tiny_artifact  # noqa: E402,F401 - the serving tests' session model

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(settings.BASE_DIR) / "test-artifacts" / "screenshots"
DESKTOP = {"width": 1280, "height": 900}


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        pytest.skip("browser tests need Debian's chromium at /usr/bin/chromium: run `make browser`")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(autouse=True)
def _serving_settings(settings):
    """One torch thread, no preloading, and a fresh model manager: each test has its own artifacts."""
    settings.CREATIVEOPS = {**settings.CREATIVEOPS, "TORCH_NUM_THREADS": 1, "PRELOAD_MODEL": False}
    ModelManager.reset_all()
    yield
    ModelManager.reset_all()


@pytest.fixture
def context(browser, live_server):
    browser_context = browser.new_context(base_url=live_server.url, viewport=DESKTOP, accept_downloads=True)
    # Generous: the suite shares two CPU cores with model training in other tests.
    browser_context.set_default_timeout(30_000)
    yield browser_context
    browser_context.close()


@pytest.fixture
def page(context):
    """A tab; the test fails if the browser reports a Content-Security-Policy violation on any page."""
    tab = context.new_page()
    violations: list[str] = []
    tab.on("console", lambda message: _note_csp_violation(message, violations))
    yield tab
    assert not violations, f"Content-Security-Policy violations: {violations}"


def _note_csp_violation(message, violations: list[str]) -> None:
    if "Content Security Policy" in message.text:
        violations.append(message.text)


@pytest.fixture
def screenshot(request):
    """`screenshot(page, "creatives")` saves test-artifacts/screenshots/<test>-creatives.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    test_name = re.sub(r"[^A-Za-z0-9_-]+", "_", request.node.name.removeprefix("test_"))

    def take(page, name: str) -> Path:
        path = SCREENSHOTS / f"{test_name}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


@pytest.fixture
def migrated_data(transactional_db):
    """What the data migrations wrote: the role groups and the periodic tasks.

    A live-server test runs on a committed (transactional) database that the previous one flushed.
    Serialized rollback cannot restore it here: once Playwright's event loop runs in this thread,
    Django's connection handler keeps per-context connections, and the connection holding the
    serialized contents belongs to the context from before the browser started.
    """
    from django.apps import apps
    from django.contrib.auth.models import Group, Permission

    from creativeops.core.roles import ROLE_PERMISSIONS
    from creativeops.core.schedule import install_periodic_tasks
    from creativeops.monitoring import schedule as monitoring_schedule
    from creativeops.pipeline import schedule as pipeline_schedule

    for name, pairs in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.set(
            [
                Permission.objects.get(content_type__app_label=app, codename=codename)
                for app, codename in pairs
            ]
        )
    install_periodic_tasks(apps, {**pipeline_schedule.PERIODIC_TASKS, **monitoring_schedule.PERIODIC_TASKS})


@pytest.fixture
def marketer(migrated_data):
    return make_user("browser-marketer", groups=["marketers"], is_staff=False)


@pytest.fixture
def operator(migrated_data):
    return make_user("browser-operator", groups=["operators"], is_staff=True)


def log_in(page, username: str, *, path: str = "/creatives/") -> None:
    """Open `path` as an anonymous visitor, get sent to the login page, log in and come back."""
    page.goto(path)
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()
