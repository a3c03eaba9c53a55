"""The counsellors' console (``bot/console/static``) in headless Chromium, keyboard only.

As in ``tests/test_web_widget.py``: Debian's chromium driven by Selenium through
Debian's chromedriver (``scripts/install-browser.sh``). The console's router is served
by uvicorn over the real handoff service (``tests.console_harness``); she reaches the
queue through the service's own entry points, on the server's loop. The counsellor
only types: Tab, Shift+Tab, Enter, Escape and text; no element is ever clicked.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from bot.console.router import STATIC_DIR
from bot.handoff.records import Role
from bot.handoff.service import label_of
from tests.browser import headless_chromium
from bot.identity import pseudonym
from tests.console_harness import HER, PASSWORD, PEPPER, TELEGRAM_USER_ID, Console, build_console
from tests.standins.server import Served

WAIT_SECONDS = 10
MAX_TABS = 80

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    with headless_chromium(1280, 1000, console_log=True) as driver:
        yield driver


@pytest.fixture
def console(tmp_path) -> Iterator[tuple[Console, str]]:
    """A fresh console, served; its URL."""
    built = build_console(tmp_path)
    with Served(built.app) as served:
        yield built, served.url
    built.engine.dispose()


@pytest.fixture
def driver(browser, console) -> Iterator[WebDriver]:
    """The browser, leaving the console (its event stream) before the console's server stops."""
    browser.get_log("browser")  # forget what earlier tests logged
    yield browser
    browser.get("about:blank")


# ------------------------------------------------------------------ helpers


def keys(driver: WebDriver, *typed: str) -> None:
    ActionChains(driver).send_keys(*typed).perform()


def alt(driver: WebDriver, key: str) -> None:
    """A shortcut: Alt held down while ``key`` is pressed."""
    ActionChains(driver).key_down(Keys.ALT).send_keys(key).key_up(Keys.ALT).perform()


def focused(driver: WebDriver) -> dict[str, Any]:
    return driver.execute_script("""
        const e = document.activeElement;
        const style = getComputedStyle(e);
        return {id: e.id, key: e.dataset ? e.dataset.key || null : null, tag: e.tagName.toLowerCase(),
                text: e.textContent, label: e.getAttribute('aria-label'),
                outline: style.outlineStyle + ' ' + style.outlineWidth};
    """)


def tab_to(driver: WebDriver, selector: str, backwards: bool = False) -> dict[str, Any]:
    """Press Tab (or Shift+Tab) until the element matching ``selector`` has the focus."""
    for _ in range(MAX_TABS):
        if driver.execute_script("return document.activeElement.matches(arguments[0])", selector):
            return focused(driver)
        ActionChains(driver).key_down(Keys.SHIFT).send_keys(Keys.TAB).key_up(Keys.SHIFT).perform() if backwards \
            else keys(driver, Keys.TAB)
    raise AssertionError(f"{selector} never got the focus; last: {focused(driver)}")


def until(driver: WebDriver, script: str, message: str = "") -> Any:
    """Wait until ``script`` (a JS expression) is truthy; return its value."""
    found: list[Any] = []

    def check(d: WebDriver) -> bool:
        value = d.execute_script(f"return {script}")
        if value:
            found.append(value)
        return bool(value)

    WebDriverWait(driver, WAIT_SECONDS).until(check, message or script)
    return found[0]


def lines(driver: WebDriver) -> list[list[str]]:
    return driver.execute_script("""
        return [...document.querySelectorAll('#lines .line')].map(
            (l) => [l.classList[1], l.querySelector('.who').textContent, l.querySelector('.text').textContent]);
    """)


def visible(driver: WebDriver, element_id: str) -> bool:
    return driver.execute_script(f"return !document.getElementById('{element_id}').closest('[hidden]')")


def sign_in(driver: WebDriver, url: str, login: str, password: str = PASSWORD) -> None:
    driver.get(f"{url}/console")
    until(driver, "document.activeElement.id === 'login-name'", "the login field has the focus")
    keys(driver, login, Keys.TAB, password, Keys.ENTER)


def policy_violations(driver: WebDriver) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser") if "Content Security Policy" in entry["message"]]


# -------------------------------------------------------------------- tests


def test_a_chat_from_take_to_end_with_the_keyboard_only(driver, console):
    console, url = console
    console.call(console.add("Anna", "anna"))
    handoff_id = console.call(console.her_request(language="sq"))

    sign_in(driver, url, "anna")
    until(driver, "!document.getElementById('console').hidden && document.activeElement.id === 'queue-title'")
    assert driver.execute_script("return document.getElementById('me').textContent") == \
        "Signed in as Anna (counsellor)"
    row = until(driver, "document.querySelector('#queue-rows tr')?.innerText")
    assert row.split("\t")[:4] == [label_of(HER), "Telegram", "Albanian", "Immediate danger"]
    assert TELEGRAM_USER_ID not in driver.page_source and HER not in driver.page_source

    take = tab_to(driver, f'[data-key="take:{handoff_id}"]')
    assert take["label"] == f"Take the chat with {label_of(HER)}"
    assert take["outline"] != "none 0px"  # the focus is visible
    keys(driver, Keys.ENTER)
    until(driver, "document.activeElement.id === 'reply'", "the reply box has the focus after Take")
    assert focused(driver)["outline"] != "none 0px"
    until(driver, "document.querySelectorAll('#lines .line').length === 2")
    assert [kind for kind, _, _ in lines(driver)] == ["her", "assistant"]  # her chat before the handoff

    keys(driver, "I am here with you.", Keys.ENTER)
    until(driver, "[...document.querySelectorAll('#lines .line.counsellor')].length === 1")
    assert console.her.texts()[-1] == "I am here with you."
    assert driver.execute_script("return document.getElementById('reply').value") == ""

    console.call(console.she_says("Thank you"))
    until(driver, "[...document.querySelectorAll('#lines .line.her')].some((l) => l.textContent.includes('Thank you'))",
          "her message shows up live")

    tab_to(driver, "#note")
    keys(driver, "Calmer now", Keys.ENTER)
    until(driver, "document.querySelector('#lines .line.note')")
    kind, who, text = lines(driver)[-1]
    assert (kind, text) == ("note", "Calmer now")
    assert "Internal note by Anna: not sent to her" in who
    assert "Calmer now" not in console.her.texts()
    note_style, reply_style = driver.execute_script("""
        const look = (e) => { const s = getComputedStyle(e); return [s.backgroundColor, s.borderStyle]; };
        return [look(document.querySelector('.line.note')), look(document.querySelector('.line.counsellor'))];
    """)
    assert note_style != reply_style and note_style[1] == "dashed"

    tab_to(driver, "#end")
    keys(driver, Keys.ENTER)
    until(driver, "document.getElementById('end-dialog').open && document.activeElement.id === 'end-cancel'")
    tab_to(driver, "#end-submit", backwards=True)
    keys(driver, Keys.ENTER)
    until(driver, "!document.getElementById('end-dialog').open && document.activeElement.id === 'chats-title'")
    assert console.her.texts()[-1] == console.told("utter_handoff_closing", "sq")
    until(driver, "document.querySelectorAll('#chat-list li').length === 0")
    until(driver, "document.getElementById('status').textContent === 'Chat ended.'")
    assert driver.execute_script("return document.getElementById('reply').disabled")
    assert ["take", "view", "reply", "note", "end"] == [
        action for action in console.actions() if action in ("take", "reply", "view", "note", "end")]
    assert policy_violations(driver) == []


def test_shortcuts_dialogs_and_escape(driver, console):
    console, url = console
    console.call(console.add("Anna", "anna"))
    handoff_id = console.call(console.her_request())
    sign_in(driver, url, "anna")
    until(driver, f"document.querySelector('[data-key=\"take:{handoff_id}\"]')")
    alt(driver, "q")
    assert focused(driver)["key"] == f"take:{handoff_id}"
    keys(driver, Keys.ENTER)
    until(driver, "document.activeElement.id === 'reply'")
    alt(driver, "n")
    assert focused(driver)["id"] == "note"
    alt(driver, "r")
    assert focused(driver)["id"] == "reply"

    # A canned reply in her language goes into the reply box, to be edited before sending.
    tab_to(driver, "#canned")
    tab_to(driver, "#canned-insert")
    keys(driver, Keys.ENTER)
    assert focused(driver)["id"] == "reply"
    canned = console.service.canned("sq")[0][1]
    assert driver.execute_script("return document.getElementById('reply').value") == canned

    tab_to(driver, "#transfer")
    keys(driver, Keys.ENTER)
    until(driver, "document.getElementById('transfer-dialog').open && document.activeElement.id === 'transfer-to'")
    keys(driver, Keys.ESCAPE)
    until(driver, "!document.getElementById('transfer-dialog').open && document.activeElement.id === 'transfer'",
          "Escape closes the dialog and gives the focus back")

    tab_to(driver, "#block")
    keys(driver, Keys.ENTER)
    until(driver, "document.getElementById('block-dialog').open && document.activeElement.id === 'block-reason'")
    keys(driver, "Threats to the counsellor", Keys.TAB)
    assert focused(driver)["id"] == "block-days"
    ActionChains(driver).key_down(Keys.CONTROL).send_keys("a").key_up(Keys.CONTROL).perform()
    keys(driver, "3", Keys.ENTER)
    until(driver, "!document.getElementById('block-dialog').open")
    assert console.her.texts()[-1] == console.told("utter_handoff_blocked", "sq")
    until(driver, "document.getElementById('status').textContent === 'Sender blocked.'")
    assert [(row.action, row.detail) for row in console.audit()][-1] == ("block", "3 days")


def test_a_wrong_password_then_sign_out(driver, console):
    console, url = console
    anna = console.call(console.add("Anna", "anna"))
    sign_in(driver, url, "anna", "not the password")
    until(driver, "document.getElementById('login-error').textContent === 'Wrong login or password.'")
    assert focused(driver)["id"] == "login-password"
    keys(driver, PASSWORD, Keys.ENTER)
    until(driver, "!document.getElementById('console').hidden")
    assert driver.get_cookies() == [] or all(c["httpOnly"] for c in driver.get_cookies())
    assert driver.execute_script("return document.cookie") == ""  # the session is out of the page's reach
    tab_to(driver, "#away")
    keys(driver, Keys.ENTER)
    until(driver, "document.getElementById('away').getAttribute('aria-pressed') === 'true'")
    assert console.call(console.service.is_away(anna.id))
    tab_to(driver, "#logout")
    keys(driver, Keys.ENTER)
    until(driver, "!document.getElementById('login').hidden && document.activeElement.id === 'login-name'")
    assert console.actions(anna.id) == ["login_failed", "login", "away", "logout"]
    assert policy_violations(driver) == []


def test_an_administrator_sees_every_chat_and_the_audit_log(driver, console):
    console, url = console
    anna = console.call(console.add("Anna", "anna"))
    console.call(console.add("Cleo", "cleo", role=Role.ADMIN))
    handoff_id = console.call(console.her_request())
    console.call(console.service.take(anna.id, handoff_id))
    console.call(console.service.reply(anna.id, handoff_id, "Hello, I am Anna"))

    sign_in(driver, url, "cleo")
    until(driver, "!document.getElementById('console').hidden")
    assert visible(driver, "audit")
    assert driver.execute_script("return document.getElementById('chats-title').textContent") == \
        "Open chats (everyone's)"
    chat = tab_to(driver, f'[data-key="chat:{handoff_id}"]')
    assert "with Anna" in chat["text"]
    keys(driver, Keys.ENTER)
    until(driver, "[...document.querySelectorAll('#lines .line.counsellor')].length === 1")
    assert driver.execute_script("return document.getElementById('chat-state').textContent") == "Anna has this chat."
    assert driver.execute_script("return document.getElementById('reply').disabled")  # Anna's to answer
    assert not driver.execute_script("return document.getElementById('note').disabled")
    tab_to(driver, "#audit-refresh")
    keys(driver, Keys.ENTER)
    rows = until(driver, "[...document.querySelectorAll('#audit-rows tr')].map((r) => r.innerText)"
                         ".filter((t) => t.includes('view')).length && "
                         "[...document.querySelectorAll('#audit-rows tr')].map((r) => r.innerText)")
    assert any("Cleo" in row and "view" in row for row in rows)
    assert any("Anna" in row and "take" in row for row in rows)


def test_a_whatsapp_chat_past_her_24_hours_says_so_on_take_and_refuses_the_reply(driver, console):
    console, url = console
    console.call(console.add("Anna", "anna"))
    her = pseudonym(PEPPER.encode(), "whatsapp", "38970123456")
    console.her.she_wrote(her, time.time() - 25 * 3600)
    handoff_id = console.call(console.her_request(her, channel="whatsapp", language="sq"))
    texts = json.loads((STATIC_DIR / "texts.json").read_text(encoding="utf-8"))

    sign_in(driver, url, "anna")
    until(driver, f"document.querySelector('[data-key=\"take:{handoff_id}\"]')")
    alt(driver, "q")
    keys(driver, Keys.ENTER)
    until(driver, "document.activeElement.id === 'reply'", "the reply box has the focus after Take")
    status = until(driver, "document.getElementById('status').textContent")
    assert status == f"You have the chat with {label_of(her)}. {texts['window_over']}"

    keys(driver, "Are you safe?", Keys.ENTER)
    until(driver, f"document.getElementById('alert').textContent === {texts['window_closed']!r}",
          "the counsellor is told the reply was not sent")
    assert "Are you safe?" not in console.her.texts(her)
    assert driver.execute_script("return document.getElementById('reply').value") == "Are you safe?"

    console.her.she_wrote(her, time.time())  # she writes again: WhatsApp takes answers again
    keys(driver, Keys.ENTER)
    until(driver, "[...document.querySelectorAll('#lines .line.counsellor')].length === 1")
    assert console.her.texts(her)[-1] == "Are you safe?"
    assert "38970123456" not in driver.page_source and her not in driver.page_source
    assert policy_violations(driver) == []
