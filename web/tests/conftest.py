"""Fixtures of the browser tests: one Chromium per module, and people who sign
in to the test server in their own browser context."""

from __future__ import annotations

import os

import pytest
from playwright.sync_api import sync_playwright

from web.tests.browser import ARGS, CHROMIUM, Person


@pytest.fixture(scope="module")
def browser():
    # Playwright's sync API keeps an event loop running in this thread, which
    # makes Django refuse ORM calls (the tests' own rows, pytest-django's
    # flush) as "async unsafe". Nothing here shares a connection across
    # threads, so that guard is lifted while the browser is up.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as p:
            instance = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
            yield instance
            instance.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def people(browser, live_server_url, message_worker, search_indexer):
    made: list[Person] = []

    def make(**options) -> Person:
        person = Person(browser, live_server_url, **options)
        made.append(person)
        return person

    yield make
    for person in made:
        person.close()
