"""The call log reads at a glance: "10:30" today, "Yesterday", a weekday
within the week, then a short date (full dates pushed names off the row);
only calls I missed are red, not one I declined."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from web.tests.browser import PHONE, day_safe_now, ended_call

# What these pages render and send goes through REST alone, the same over
# either configuration's services (one_config: the real-services run only).
pytestmark = [
    pytest.mark.browser,
    pytest.mark.one_config,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(120),
]


def test_the_call_log_says_when_briefly_and_reds_only_missed_calls(people, user_factory):
    from calls.models import Call
    from conftest import PASSWORD
    from contacts.services import do_connect

    ann = user_factory("ann_log", nickname="Ann")
    names = {"today": "Tia", "yesterday": "Yan", "weekday": "Wes", "older": "Ola"}
    people_by = {k: user_factory(f"{v.lower()}_log", nickname=v) for k, v in names.items()}
    for other in people_by.values():
        do_connect(user=ann, other=other)
    now = day_safe_now()  # and the browser's clock stands still there
    # Noon-ish of each day, so the day does not depend on the hour the test runs.
    midday = now.replace(hour=12, minute=0, second=0, microsecond=0)
    when = {
        "today": now - timedelta(minutes=1),
        "yesterday": midday - timedelta(days=1),
        "weekday": midday - timedelta(days=3),
        "older": midday - timedelta(days=30),
    }
    outcome = {"today": "rejected", "yesterday": "missed", "weekday": "completed", "older": "missed"}
    for key, caller in people_by.items():
        Call.objects.create(
            caller=caller,
            callee=ann,
            media="audio",
            state="ended",
            outcome=outcome[key],
            started_at=when[key],
            ended_at=when[key] + timedelta(seconds=30),
            duration_s=30 if outcome[key] == "completed" else 0,
        )

    person = people(viewport=PHONE, phone=True, timezone_id="UTC")
    person.page.clock.set_fixed_time(now)
    person.login("ann_log", PASSWORD)
    person.nav("calls")
    log = person.page.get_by_role("list", name="Call log")
    row = {key: log.locator(".conv-item", has_text=name) for key, name in names.items()}
    expect(row["today"].locator(".conv-time")).to_have_text(re.compile(r"^\d{1,2}:\d{2}( [AP]M)?$"))
    expect(row["yesterday"].locator(".conv-time")).to_have_text("Yesterday")
    expect(row["weekday"].locator(".conv-time")).to_have_text(re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun)$"))
    expect(row["older"].locator(".conv-time")).to_have_text(
        re.compile(r"^([A-Z][a-z]{2} \d{1,2}|\d{1,2}/\d{1,2}/\d{4})$")
    )
    # The full date and time is still there, on hover.
    expect(row["older"].locator(".conv-time")).to_have_attribute("title", re.compile(r"\d{4}"))
    # Declined by me: not red. Missed: red.
    expect(row["today"].locator(".conv-name")).not_to_have_class(re.compile(r"\bmissed\b"))
    expect(row["today"]).to_contain_text("You declined")
    expect(row["yesterday"].locator(".conv-name")).to_have_class(re.compile(r"\bmissed\b"))
    # On a phone the names keep their room beside the time.
    for key, name in names.items():
        expect(row[key].locator(".conv-name")).to_have_text(name)
        assert row[key].locator(".conv-name").evaluate("n => n.scrollWidth <= n.clientWidth"), f"{name} is cut"
    person.shot("calls-log-phone")
    person.assert_clean()


def test_a_calls_details_sit_in_a_card_with_the_panes_margins(people, user_factory):
    """Desktop: a call's detail card keeps the pane's padding on both sides and
    its own width, instead of running from edge to edge of the pane."""
    from conftest import PASSWORD
    from contacts.services import do_connect

    ann = user_factory("ann_card", nickname="Ann")
    ben = user_factory("ben_card", nickname="Ben")
    do_connect(user=ann, other=ben)
    ended_call(ann, ben, media="video", seconds=75)
    person = people()
    person.login("ann_card", PASSWORD)
    person.nav("calls")
    person.page.get_by_role("list", name="Call log").locator(".conv-item", has_text="Ben").click()
    card = person.page.locator(".call-card")
    expect(card).to_contain_text("1:15")
    expect(card.get_by_role("button", name="Video call")).to_be_visible()
    pane = card.locator("xpath=..").bounding_box()
    box = card.bounding_box()
    assert box["x"] >= pane["x"] + 12, (box, pane)
    assert box["x"] + box["width"] <= pane["x"] + pane["width"] - 12, (box, pane)
    assert box["width"] <= 30 * 16 + 1, box
    person.shot("call-detail-desktop")
    person.assert_clean()


def test_the_call_log_says_why_a_call_ended_where_the_outcome_does_not(people, user_factory):
    """A call cut because an administrator disabled the other account reads
    "Account disabled", not "Failed" (which blames the connection);
    a declined call's detail shows the words it was declined with."""
    from calls.models import Call
    from conftest import PASSWORD
    from contacts.services import do_connect

    ann = user_factory("ann_why", nickname="Ann")
    cut_by = user_factory("cy_why", nickname="Cy")
    declined_by = user_factory("dee_why", nickname="Dee")
    for other in (cut_by, declined_by):
        do_connect(user=ann, other=other)
    now = day_safe_now()
    for callee, outcome, reason, ago in (
        (cut_by, "failed", "account_disabled", 5),
        (declined_by, "rejected", "Driving, call you later", 3),
    ):
        Call.objects.create(
            caller=ann,
            callee=callee,
            media="audio",
            state="ended",
            outcome=outcome,
            end_reason=reason,
            started_at=now - timedelta(minutes=ago),
            ended_at=now - timedelta(minutes=ago - 1),
        )

    person = people()
    person.page.clock.set_fixed_time(now)
    person.login("ann_why", PASSWORD)
    person.nav("calls")
    log = person.page.get_by_role("list", name="Call log")
    expect(log.locator(".conv-item", has_text="Cy").locator(".call-outcome")).to_have_text("Account disabled")
    expect(log.locator(".conv-item", has_text="Dee").locator(".call-outcome")).to_have_text("Declined")
    log.locator(".conv-item", has_text="Dee").click()
    card = person.page.locator(".call-card")
    expect(card.locator(".call-reason")).to_have_text("Driving, call you later")
    person.shot("call-detail-declined-with-reason")
    log.locator(".conv-item", has_text="Cy").click()
    expect(person.page.locator(".call-card")).to_contain_text("Account disabled")
    expect(person.page.locator(".call-card .call-reason")).to_have_count(0)
    person.assert_clean()
