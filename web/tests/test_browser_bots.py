"""Bots in the web app: the BOT badge wherever a bot is shown; slash commands
in the composer (the completion list, /shrug, a text that only looks like a
command, a refusal) and a bot's answer shown to me alone; Me › My bots
(creating a bot and a key shown once, its settings, commands and webhooks);
a public bot found by its username and added without a request.

The bot's program is a local HTTP server (bots/tests/conftest.py's
Endpoint); the module's server may reach it (WEBHOOK_ALLOW_PRIVATE), and
with Kafka its events go out through `run_bot_worker`, as beside a served
product (embedded, the server sends them itself)."""

from __future__ import annotations

import json
import re
import time

import pytest
from playwright.sync_api import expect

from bots.tests.conftest import LOOPBACK, bots_worker_process, open_endpoint
from conftest import module_server
from web.tests.browser import PHONE, send_as
from web.tests.test_browser import LAYOUT_PROBLEMS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.timeout(240)]

SHRUG = "¯\\_(ツ)_/¯"


@pytest.fixture(scope="module")
def live_server_url(django_db_setup, django_db_blocker, tmp_path_factory):
    """This module's server, allowed to send bots' events to this machine."""
    with module_server(django_db_blocker, tmp_path_factory, env={"WEBHOOK_ALLOW_PRIVATE": LOOPBACK}) as url:
        yield url


@pytest.fixture(scope="module")
def bots_worker(live_server_url, message_worker, django_db_blocker, tmp_path_factory):
    """With Kafka, the bots worker that a served product runs beside its server."""
    with bots_worker_process(django_db_blocker, tmp_path_factory) as proc:
        yield proc


@pytest.fixture
def endpoint(settings):
    with open_endpoint(settings) as found:
        yield found


def bot_world(user_factory, endpoint, tag: str):
    """Ann, her contact Ben, her bot Weather (/weather, events to `endpoint`)
    in her contacts and in the group Trip with Ben, where it said hello."""
    from bots.services import do_add_bot, do_create_bot, do_set_commands, do_update_bot
    from conftest import PASSWORD
    from contacts.services import do_connect
    from groups.services import do_create_group

    ann = user_factory(f"ann_{tag}", nickname="Ann")
    ben = user_factory(f"ben_{tag}", nickname="Ben")
    do_connect(user=ann, other=ben)
    bot = do_create_bot(owner=ann, username=f"weather_{tag}", nickname="Weather", description="Forecasts.")
    bot_id = str(bot.user.uuid)
    do_update_bot(user=ann, bot_id=bot_id, events_url=endpoint.url)
    do_set_commands(
        user=ann,
        bot_id=bot_id,
        commands=[{"name": "weather", "usage": "[city]", "description": "Today's weather somewhere"}],
    )
    do_add_bot(user=ann, bot_id=bot_id)
    group = do_create_group(owner=ann, name="Trip", members=[str(ben.uuid), bot_id])
    send_as(bot.user, str(group.conversation.uuid), "Hello, I am the weather bot.")
    return PASSWORD


def answer_ephemeral(event: dict) -> tuple[int, bytes]:
    """The bot's program: a command is answered to its caller alone; a message says nothing."""
    if event["type"] != "command":
        return 200, b""
    text = f"Sunny in {event.get('text') or 'your town'}, 21°C. <https://weather.example/today|Details>"
    return 200, json.dumps({"text": text, "response_type": "ephemeral"}).encode()


def expect_refused(person, status: int, n: int) -> None:
    """The `n` refusals with `status` the test caused are the console's
    failed loads (the browser logs each); anything else still counts."""
    own = [p for p in person.problems if f"status of {status}" in p]
    assert len(own) == n, person.problems
    for problem in own:
        person.problems.remove(problem)


def offered(page) -> list[str]:
    return page.locator("#command-list [role=option]").evaluate_all("(els) => els.map((e) => e.dataset.command)")


def test_slash_commands_complete_run_and_a_bots_answer_is_shown_to_me_alone(
    people, user_factory, endpoint, bots_worker
):
    password = bot_world(user_factory, endpoint, "cmd")
    endpoint.answer = answer_ephemeral
    ann = people()
    ann.login("ann_cmd", password)
    page = ann.page
    ann.open_chat("Weather")
    expect(page.locator(".chat-header .bot-badge")).to_have_text("BOT")
    box = page.get_by_label("Message", exact=True)

    # "/" lists what may be run here: the built-ins, then the bot's.
    box.press_sequentially("/")
    expect(page.locator("#command-list")).to_be_visible()
    assert offered(page) == ["me", "shrug", "mute", "unmute", "weather"]
    weather = page.locator('#command-list [data-command="weather"]')
    expect(weather).to_contain_text("/weather")
    expect(weather).to_contain_text("[city]")
    expect(weather).to_contain_text("Today's weather somewhere")
    expect(weather.locator(".command-bot")).to_contain_text("Weather")
    expect(weather.locator(".bot-badge")).to_be_visible()
    ann.shot("bots-command-list-desktop")
    # Typing filters it; Escape closes it; Tab picks.
    box.press_sequentially("we")
    expect(page.locator("#command-list [role=option]")).to_have_count(1)
    box.press("Escape")
    expect(page.locator("#command-list")).to_be_hidden()
    box.press_sequentially("a")
    expect(page.locator("#command-list [role=option]")).to_have_count(1)
    box.press("Tab")
    expect(box).to_have_value("/weather ")
    expect(page.locator("#command-list")).to_be_hidden()

    # The bot's command goes to its program, and the answer is for me alone.
    box.press_sequentially("Paris")
    box.press("Enter")
    answer = page.locator(".msg-ephemeral")
    expect(answer).to_contain_text("Sunny in Paris, 21°C. Details (https://weather.example/today)")
    expect(answer).to_contain_text("Only visible to you")
    expect(answer.locator(".ephemeral-bot")).to_have_text("Weather")
    expect(answer.locator(".bot-badge")).to_be_visible()
    expect(answer.get_by_role("link", name="https://weather.example/today")).to_have_attribute(
        "href", "https://weather.example/today"
    )
    expect(box).to_have_value("")
    event = endpoint.wait_for(1)[0]["event"]
    assert (event["type"], event["command"], event["text"]) == ("command", "/weather", "Paris")
    ann.shot("bots-ephemeral-desktop")

    # /shrug sends a message, as any message comes.
    box.press_sequentially("/shrug hello")
    box.press("Enter")
    expect(ann.message(f"hello {SHRUG}")).to_be_visible()
    expect(box).to_have_value("")
    # A text that only starts with "/" is a message.
    box.press_sequentially("/etc/hosts is broken")
    box.press("Enter")
    expect(ann.message("/etc/hosts is broken")).to_be_visible()
    # A refusal is said, and the text stays to be fixed.
    box.press_sequentially("/me")
    box.press("Enter")
    expect(page.locator(".composer-problem")).to_contain_text("/me waves")
    expect(box).to_have_value("/me")
    box.press_sequentially(" waves")
    expect(page.locator(".composer-problem")).to_be_hidden()
    box.press("Enter")
    expect(ann.message("* Ann waves")).to_be_visible()

    # The answer is no message: not unread, and gone after a reload.
    expect(page.locator(".msg-ephemeral")).to_have_count(1)
    page.reload()
    ann.wait_online()
    expect(ann.message(f"hello {SHRUG}")).to_be_visible()
    expect(page.locator(".msg-ephemeral")).to_have_count(0)

    # In a group: /invite too, and the bot's messages say it is a bot.
    ben = people()
    ben.login("ben_cmd", password)
    ben.open_chat("Trip")
    ann.open_chat("Trip")
    sender = page.locator(".msg.theirs .msg-sender", has_text="Weather")
    expect(sender.locator(".bot-badge")).to_have_text("BOT")
    box = page.get_by_label("Message", exact=True)
    box.press_sequentially("/")
    expect(page.locator("#command-list [role=option]")).to_have_count(6)
    assert offered(page) == ["me", "shrug", "mute", "unmute", "invite", "weather"]
    # The arrow keys move (up from the first is the last), Enter picks.
    box.press("ArrowUp")
    expect(page.locator('#command-list [data-command="weather"]')).to_have_attribute("aria-selected", "true")
    box.press("Enter")
    expect(box).to_have_value("/weather ")
    box.press_sequentially("Oslo")
    box.press("Enter")
    expect(page.locator(".msg-ephemeral")).to_contain_text("Sunny in Oslo")
    ann.shot("bots-group-desktop")
    # Ben, in the same group and looking at it, never sees it.
    expect(ben.message("Hello, I am the weather bot.")).to_be_visible()
    ben.page.wait_for_timeout(500)
    expect(ben.page.locator(".msg-ephemeral")).to_have_count(0)

    # An answer that comes while another chat is open waits in its own.
    def answer_slowly(event):
        time.sleep(2)
        return answer_ephemeral(event)

    endpoint.answer = answer_slowly
    box.press_sequentially("/weather Rome")
    box.press("Enter")
    expect(box).to_have_value("")
    ann.open_chat("Weather")
    deadline = time.monotonic() + 15
    while not any(r["event"].get("text") == "Rome" for r in endpoint.requests):
        assert time.monotonic() < deadline, "the bot was never asked about Rome"
        time.sleep(0.1)
    page.wait_for_timeout(1000)  # its answer reaches the page meanwhile
    expect(page.locator(".msg-ephemeral")).to_have_count(0)
    ann.open_chat("Trip")
    expect(page.locator(".msg-ephemeral").last).to_contain_text("Sunny in Rome")
    expect(page.locator(".msg-ephemeral")).to_have_count(2)
    # Not unread either: the chat list shows no count for it.
    expect(page.locator(".conv-item", has_text="Trip").locator(".badge")).to_have_count(0)
    ann.assert_clean()
    ben.assert_clean()


def test_a_command_added_after_the_list_was_read_runs_and_is_never_posted_to_the_chat(
    people, user_factory, endpoint, bots_worker
):
    """Ben's tab read the group's commands; meanwhile Ann gives her bot a new
    one. Ben's "/status …" goes to the bot, not to everyone as a message."""
    from bots.services import do_set_commands
    from conversations.models import Message

    password = bot_world(user_factory, endpoint, "late")
    endpoint.answer = answer_ephemeral
    ben = people()
    ben.login("ben_late", password)
    ben.open_chat("Trip")
    page = ben.page
    box = page.get_by_label("Message", exact=True)
    box.press_sequentially("/")
    expect(page.locator("#command-list [role=option]")).to_have_count(6)  # the list is read
    box.fill("")
    from accounts.models import User

    bot = User.objects.get(username="weather_late")
    do_set_commands(
        user=User.objects.get(username="ann_late"),
        bot_id=str(bot.uuid),
        commands=[
            {"name": "weather", "usage": "[city]", "description": "Today's weather somewhere"},
            {"name": "status", "usage": "[service]", "description": "Is it up?"},
        ],
    )
    box.press_sequentially("/status of prod: token-123")
    box.press("Enter")
    expect(box).to_have_value("")
    event = endpoint.wait_for(1)[0]["event"]
    assert (event["type"], event["command"], event["text"]) == ("command", "/status", "of prod: token-123")
    page.wait_for_timeout(500)
    assert not Message.objects.filter(text__contains="token-123").exists()
    ben.assert_clean()


def test_on_a_phone_the_command_list_and_an_answer_fit_the_screen(people, user_factory, endpoint, bots_worker):
    password = bot_world(user_factory, endpoint, "phone")
    endpoint.answer = answer_ephemeral
    ann = people(viewport=PHONE, phone=True)
    ann.login("ann_phone", password)
    page = ann.page
    ann.open_chat("Weather")
    box = page.get_by_label("Message", exact=True)
    box.press_sequentially("/")
    expect(page.locator("#command-list [role=option]")).to_have_count(5)
    assert page.evaluate(LAYOUT_PROBLEMS) == []
    ann.shot("bots-command-list-phone")
    page.locator('#command-list [data-command="weather"]').tap()
    box.press_sequentially("Lisbon")
    page.get_by_role("button", name="Send", exact=True).tap()
    expect(page.locator(".msg-ephemeral")).to_contain_text("Sunny in Lisbon")
    assert page.evaluate(LAYOUT_PROBLEMS) == []
    ann.shot("bots-ephemeral-phone")
    assert ann.axe() == []
    ann.assert_clean()


@pytest.mark.one_config  # what the page renders, the same over either configuration's services
def test_my_bots_create_a_bot_and_a_key_shown_once(people, user_factory):
    from conftest import PASSWORD

    user_factory("cara_bots", nickname="Cara")
    cara = people()
    cara.login("cara_bots", PASSWORD)
    page = cara.page
    cara.nav("profile")
    page.get_by_role("link", name="My bots").click()
    expect(page).to_have_url(re.compile(r"/profile/bots$"))
    expect(page.get_by_text("You have no bots yet.")).to_be_visible()
    form = page.locator("form.bot-create")
    # The server's refusal is shown under the field it is about.
    form.get_by_label("Username").fill("No Spaces")
    form.get_by_role("button", name="Create bot").click()
    username_errors = form.locator(".field", has=page.get_by_label("Username")).locator(".field-errors")
    expect(username_errors).to_contain_text("3 to 32 letters")
    expect(form.get_by_label("Username")).to_have_attribute("aria-invalid", "true")
    form.get_by_label("Username").fill("cara_helper")
    form.get_by_label("Name (optional)").fill("Helper <b>bot</b>")
    form.get_by_label("Description (optional)").fill("Answers /help.")
    form.get_by_label("Public").check()
    form.get_by_role("button", name="Create bot").click()
    expect(page).to_have_url(re.compile(r"/profile/bots/[0-9a-f-]{36}$"))
    expect(page.locator("main .pane-header h1")).to_have_text("Helper <b>bot</b>")
    expect(page.locator("main .profile-card .bot-badge")).to_have_text("BOT")
    secret = page.locator(".bot-section", has=page.get_by_role("heading", name="Signing secret")).locator(
        ".secret-value"
    )
    expect(secret).to_have_text(re.compile(r"^[0-9a-f]{64}$"))
    cara.shot("bots-bot-top-desktop")

    # A key is shown once, with a copy button; afterwards only its prefix.
    keys = page.locator(".bot-section", has=page.get_by_role("heading", name="API keys"))
    expect(keys.get_by_text("No keys yet.")).to_be_visible()
    keys.get_by_label("Name of the new key (optional)").fill("laptop")
    keys.get_by_role("button", name="Create key").click()
    once = keys.locator(".shown-once")
    expect(once).to_contain_text("you won't see it again")
    expect(once.get_by_role("button", name="Copy")).to_be_visible()
    key = once.locator(".secret-value").inner_text()
    assert len(key) > 20
    row = keys.locator("li[data-key]")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("laptop")
    prefix = row.locator(".key-prefix").inner_text().rstrip("…")
    assert key.startswith(prefix) and len(prefix) < len(key)
    cara.shot("bots-key-once-desktop")
    once.get_by_role("button", name="Done").click()
    expect(keys.locator(".shown-once")).to_have_count(0)
    assert key not in page.locator("main").inner_text()
    page.reload()
    cara.wait_online()
    expect(keys.locator("li[data-key]")).to_contain_text(prefix)
    assert key not in page.content()

    # Its commands, saved and read back; a built-in name is refused.
    commands = page.locator(".bot-section", has=page.get_by_role("heading", name="Slash commands"))
    commands.get_by_role("button", name="Add a command").click()
    commands.get_by_label("Command 1: name").fill("shrug")
    commands.get_by_role("button", name="Save commands").click()
    expect(commands.locator(".form-problem")).to_contain_text("/shrug is built in.")
    commands.get_by_label("Command 1: name").fill("/help")
    commands.get_by_label("Command 1: usage").fill("[topic]")
    commands.get_by_label("Command 1: description").fill("What I can do")
    commands.get_by_role("button", name="Save commands").click()
    expect(page.locator(".toast", has_text="Saved.").first).to_be_visible()
    expect(commands.get_by_label("Command 1: name")).to_have_value("help")
    # The card at the top says so too.
    expect(page.locator("main .profile-card .bot-commands")).to_contain_text("/help [topic] · What I can do")
    expect(commands.locator(".form-problem")).to_be_hidden()
    # An events URL the server refuses is said under its field.
    settings = page.locator("form", has=page.get_by_role("heading", name="Settings"))
    settings.get_by_label("Events URL").fill("ftp://example.com/x")
    settings.get_by_role("button", name="Save").click()
    expect(settings.locator(".field", has=page.get_by_label("Events URL")).locator(".field-errors")).to_be_visible()

    # A webhook needs a chat the bot is in: once added, its direct chat.
    hooks = page.locator(".bot-section", has=page.get_by_role("heading", name="Incoming webhooks"))
    expect(hooks.get_by_label("Post into")).to_contain_text("The bot is in none of your chats yet")
    page.get_by_role("button", name="Add to my contacts").click()
    expect(page.locator("main .profile-card").get_by_role("button", name="Send message")).to_be_visible()
    expect(hooks.get_by_label("Post into")).to_contain_text("Choose a chat")
    hooks.get_by_label("Post into").select_option(label="Helper <b>bot</b>")
    hooks.get_by_role("button", name="Create webhook").click()
    url = hooks.locator(".shown-once .secret-value").inner_text()
    assert re.match(r"^http://127\.0\.0\.1:\d+/api/v1/hooks/wsch_", url), url
    expect(hooks.locator("li[data-webhook]")).to_have_count(1)
    expect(hooks.locator("li[data-webhook]")).to_contain_text("Helper <b>bot</b>")
    cara.shot("bots-bot-desktop")
    assert page.evaluate(LAYOUT_PROBLEMS) == []
    assert cara.axe() == []

    # The list, then deleting the bot.
    page.locator("main").get_by_role("button", name="My bots").click()
    expect(page.locator("[data-bot]")).to_have_count(1)
    expect(page.locator("[data-bot] .bot-badge")).to_be_visible()
    expect(page.locator("[data-bot]")).to_contain_text("Public")
    cara.shot("bots-list-desktop")
    assert cara.axe() == []
    page.locator("[data-bot]").click()
    page.get_by_role("button", name="Delete bot").click()
    page.locator("dialog").get_by_role("button", name="Delete bot").click()
    expect(page).to_have_url(re.compile(r"/profile/bots$"))
    expect(page.get_by_text("You have no bots yet.")).to_be_visible()
    # The username, the built-in command name and the events URL.
    expect_refused(cara, 400, 3)
    cara.assert_clean()


@pytest.mark.one_config  # what the page renders, the same over either configuration's services
@pytest.mark.parametrize("lang", ["en", "zh-hans"])
def test_my_bots_on_a_phone_is_whole_and_accessible(people, user_factory, endpoint, lang):
    from accounts.models import User

    password = bot_world(user_factory, endpoint, f"ph{lang[:2]}")
    User.objects.filter(username=f"ann_ph{lang[:2]}").update(language=lang)
    ann = people(viewport=PHONE, phone=True, locale="zh-CN" if lang == "zh-hans" else "en-US")
    page = ann.page
    ann.login(f"ann_ph{lang[:2]}", password)
    page.goto(f"{ann.base}/profile/bots")
    ann.wait_online()
    expect(page.locator("[data-bot]")).to_have_count(1)
    expect(page.locator("main .pane-header h1")).to_have_text("我的机器人" if lang == "zh-hans" else "My bots")
    expect(page.locator("[data-bot] .bot-badge")).to_have_text("机器人" if lang == "zh-hans" else "BOT")
    assert page.evaluate(LAYOUT_PROBLEMS) == []
    ann.shot(f"bots-list-phone-{lang}")
    assert ann.axe() == []
    page.locator("[data-bot]").tap()
    expect(page.locator(".command-row")).to_have_count(1)
    ann.shot(f"bots-bot-top-phone-{lang}")
    page.locator(".command-row").scroll_into_view_if_needed()
    ann.shot(f"bots-commands-phone-{lang}")
    keys = page.locator(".bot-section:has(.key-list)")
    keys.locator("form button[type=submit]").tap()
    expect(keys.locator(".shown-once")).to_be_visible()
    page.wait_for_timeout(150)
    assert page.evaluate(LAYOUT_PROBLEMS) == []
    ann.shot(f"bots-bot-phone-{lang}")
    page.locator(".shown-once").scroll_into_view_if_needed()
    ann.shot(f"bots-key-once-phone-{lang}")
    assert ann.axe() == []
    # Back to the list, on a phone too.
    page.locator("main .back").tap()
    expect(page).to_have_url(re.compile(r"/profile/bots$"))
    ann.assert_clean()


def test_a_public_bot_is_found_and_added_without_a_request_and_marked_everywhere(people, user_factory, endpoint):
    from bots.services import do_create_bot
    from conftest import PASSWORD

    bot_world(user_factory, endpoint, "pub")
    owner = user_factory("owner_pub", nickname="Owner")
    do_create_bot(owner=owner, username="public_pub", nickname="Helper", description="I help.", is_public=True)
    do_create_bot(owner=owner, username="private_pub", nickname="Secret")
    user_factory("dan_pub", nickname="Dan")
    dan_browser = people()
    dan_browser.login("dan_pub", PASSWORD)
    page = dan_browser.page
    dan_browser.nav("contacts")
    page.get_by_role("link", name="Add a contact").first.click()
    search = page.get_by_label("Username or phone number")
    # A private bot cannot be added by a stranger: the page says why.
    search.fill("private_pub")
    page.get_by_role("button", name="Search").click()
    result = page.locator(".user-result")
    expect(result.locator(".bot-badge")).to_have_text("BOT")
    expect(result.get_by_role("button", name="Send request")).to_have_count(0)
    result.get_by_role("button", name="Add bot").click()
    expect(result).to_contain_text("This bot is private")
    # A public one: added at once, then its chat.
    search.fill("public_pub")
    page.get_by_role("button", name="Search").click()
    expect(result).to_contain_text("Helper")
    dan_browser.shot("bots-search-desktop")
    result.get_by_role("button", name="Add bot").click()
    expect(result).to_contain_text("Helper is now in your contacts.")
    row = page.locator("[data-contact]", has_text="Helper")
    expect(row.locator(".bot-badge")).to_have_text("BOT")
    dan_browser.shot("bots-contacts-desktop")
    # Its card says what it does; a bot gets no call buttons.
    row.click()
    card = page.locator("main .profile-card")
    expect(card.locator(".bot-badge")).to_be_visible()
    expect(card).to_contain_text("I help.")
    expect(page.get_by_role("button", name="Voice call")).to_have_count(0)
    page.get_by_role("button", name="Send message").click()
    expect(page.locator(".chat-header .bot-badge")).to_have_text("BOT")
    expect(page.locator(".conv-item", has_text="Helper").locator(".bot-badge")).to_be_visible()
    # The private bot: as for anything a stranger may not see, 404.
    expect_refused(dan_browser, 404, 1)
    dan_browser.assert_clean()

    # Ann's group lists its members, the bot marked.
    ann = people()
    ann.login("ann_pub", PASSWORD)
    ann.nav("groups")
    ann.page.get_by_role("link", name=re.compile("^Trip")).click()
    member = ann.page.locator("[data-member]", has_text="Weather")
    expect(member.locator(".bot-badge")).to_have_text("BOT")
    ann.assert_clean()
