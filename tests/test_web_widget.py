"""The embeddable web chat (``bot/web/widget.js``) in headless Chromium, against the real app.

The browser is Debian's chromium driven by Selenium through Debian's
chromedriver (``scripts/install-browser.sh`` installs both; Selenium never
downloads one). The app runs in uvicorn (``tests.gateway_harness.running_app``)
with a stand-in of Rasa's REST channel that answers with the domain's own
responses in the conversation's language. An organisation's site is played by
a second server: a page before it, the host page with the one script tag (and
CSS that would break a widget not in a shadow root), and the neutral page quick
exit goes to. Between the browser and the app runs a TCP proxy that can cut the
connections, hold new ones, or refuse WebSockets as some proxies do.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select, WebDriverWait
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from bot import emergency
from bot.cancellation import cancel_and_wait
from bot.chat_socket import ui_texts
from bot.responses import render
from bot.settings import LANGUAGES
from tests.browser import headless_chromium
from tests.gateway_harness import running_app
from tests.helpers import domain
from tests.stack import free_port
from tests.standins.rasa import RasaStandIn
from tests.standins.server import Served

WAIT_SECONDS = 10
GREETING = {"en": "Hello", "sq": "Përshëndetje", "sr": "Zdravo", "mk": "Здраво"}

pytestmark = pytest.mark.timeout(120)


class DomainRasa:
    """Answers as the assistant would, with the domain's responses in the conversation's language."""

    def __init__(self) -> None:
        self.languages: dict[str, str] = {}

    def __call__(self, sender: str, text: str) -> list[dict[str, Any]]:
        if text.startswith("/choose_language"):
            self.languages[sender] = json.loads(text.removeprefix("/choose_language"))["language"]
            return [self.say(sender, "utter_language_changed")]
        if text == "/seek_shelter":
            return [self.say(sender, "utter_ack_shelter")]
        return [self.say(sender, "utter_how_can_i_help")]

    def say(self, sender: str, name: str) -> dict[str, Any]:
        return {"recipient_id": sender} | said(name, self.languages.get(sender, "en"))


def said(name: str, language: str) -> dict[str, Any]:
    return render(domain()["responses"], name, language)


class TcpProxy:
    """Bytes between the browser and the app. ``cut()`` drops every open connection (as a
    mobile network does), ``hold()`` lets new ones wait until ``release()``, and with
    ``refuse_sockets`` a WebSocket handshake gets 403, as behind a proxy without them."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.refuse_sockets = False
        self.upgrades = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._open: set[asyncio.StreamWriter] = set()

    def __enter__(self) -> TcpProxy:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _stop(self) -> None:
        """Close the server and end every connection's task before the loop stops."""
        self._server.close()
        self._abort_all()
        await cancel_and_wait(task for task in asyncio.all_tasks() if task is not asyncio.current_task())

    def cut(self) -> None:
        self._loop.call_soon_threadsafe(self._abort_all)

    def hold(self) -> None:
        self._loop.call_soon_threadsafe(self._released.clear)

    def release(self) -> None:
        self._loop.call_soon_threadsafe(self._released.set)

    async def _start(self) -> None:
        self._released = asyncio.Event()
        self._released.set()
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    def _abort_all(self) -> None:
        for writer in list(self._open):
            writer.transport.abort()
        self._open.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()
            return
        if b"upgrade: websocket" in head.lower():
            self.upgrades += 1
            if self.refuse_sockets:
                writer.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                writer.close()
                return
        await self._released.wait()
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self._open |= {writer, up_writer}
        up_writer.write(head)
        await asyncio.gather(_pump(reader, up_writer), _pump(up_reader, writer), return_exceptions=True)
        self._open -= {writer, up_writer}


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        writer.close()


def organisation_site(widget_base: str, exit_url: str) -> Starlette:
    """An organisation's pages: one before, the host page with the one tag, the neutral exit page."""

    async def before(request: Request) -> HTMLResponse:
        return HTMLResponse("<!doctype html><title>Before</title><p id=before>Our news</p>")

    async def host(request: Request) -> HTMLResponse:
        return HTMLResponse(f"""<!doctype html>
<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Organisation</title>
<style>
  * {{ color: #f0f !important; font-size: 40px !important; letter-spacing: 4px !important; }}
  button, textarea, select, section, div, p {{ display: none !important; }}
  body {{ margin: 0; }}
</style></head>
<body><a id="services" href="#services">Our services</a><h1>Organisation</h1>
<script src="{widget_base}/static/widget.js" data-helpline="{widget_base}" data-exit-url="{exit_url}" defer></script>
</body></html>""")

    async def neutral(request: Request) -> HTMLResponse:
        return HTMLResponse("<!doctype html><title>Weather</title><p id=weather>Sunny</p>")

    return Starlette(routes=[Route("/before", before), Route("/host", host), Route("/weather", neutral)])


@pytest.fixture(scope="module")
def rasa() -> Iterator[tuple[RasaStandIn, str]]:
    standin = RasaStandIn(reply=DomainRasa())
    with Served(standin.app) as served:
        yield standin, served.url


@pytest.fixture(scope="module")
def app(rasa):
    with running_app(rasa[1]) as running:
        yield running


@pytest.fixture(scope="module")
def proxy(app) -> Iterator[TcpProxy]:
    with TcpProxy(int(app.url.rsplit(":", 1)[1])) as running:
        yield running


@pytest.fixture(scope="module")
def site(proxy) -> Iterator[str]:
    port = free_port()
    exit_url = f"http://127.0.0.1:{port}/weather"
    with Served(organisation_site(proxy.url, exit_url), port=port) as served:
        yield served.url


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    with headless_chromium(1280, 900) as driver:
        yield driver


@pytest.fixture
def assistant(rasa) -> Iterator[RasaStandIn]:
    """The stand-in assistant, put back up and quick after the test."""
    yield rasa[0]
    rasa[0].up = True
    rasa[0].delay = 0.0


@pytest.fixture
def driver(browser, proxy) -> Iterator[WebDriver]:
    """The browser in English, at desktop size, on a blank page; the proxy passing everything."""
    speaks(browser, "en-GB")
    browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    yield browser
    proxy.refuse_sockets = False
    proxy.release()
    browser.get("about:blank")


def speaks(driver: WebDriver, language: str) -> None:
    """The browser's language (``navigator.language`` and Accept-Language)."""
    driver.execute_cdp_cmd("Network.enable", {})
    agent = driver.execute_script("return navigator.userAgent")
    driver.execute_cdp_cmd("Network.setUserAgentOverride", {"userAgent": agent, "acceptLanguage": language})


STATE = """
const root = document.querySelector('helpline-chat')?.shadowRoot;
if (!root) return null;
const text = (selector) => root.querySelector(selector)?.textContent ?? null;
const focused = root.activeElement;
return {
  open: !root.querySelector('.body').hidden,
  lang: root.host.lang,
  title: text('h2'), toggle: text('.toggle'), exit: text('.exit'), send: text('.send'),
  notice: text('.not-emergency'), numbers: text('.numbers'), status: text('.status'),
  placeholder: root.querySelector('textarea')?.placeholder,
  her: [...root.querySelectorAll('.msg.her')].map((m) => m.querySelector('.text').textContent),
  bot: [...root.querySelectorAll('.msg.bot')].map((m) => m.querySelector('.text').textContent),
  waiting: [...root.querySelectorAll('.msg.her')].map((m) => m.querySelector('.note')?.textContent ?? null),
  buttons: [...root.querySelectorAll('.buttons')].map((row) => [...row.querySelectorAll('button')].map((b) => b.textContent)),
  focused: focused ? (focused.className || focused.tagName.toLowerCase()) : null,
  focusedText: focused ? focused.textContent : null,
  outline: focused ? getComputedStyle(focused).outlineStyle + ' ' + getComputedStyle(focused).outlineWidth : null,
};
"""


def state(driver: WebDriver) -> dict[str, Any] | None:
    return driver.execute_script(STATE)


def wait_for(driver: WebDriver, predicate, message: str = "") -> dict[str, Any]:
    """Wait until ``predicate(state)`` holds; return that state."""
    found: dict[str, Any] = {}

    def check(d: WebDriver) -> bool:
        current = state(d)
        if current is not None and predicate(current):
            found.update(current)
            return True
        return False

    WebDriverWait(driver, WAIT_SECONDS).until(check, message or f"last state: {state(driver)}")
    return found


def widget(driver: WebDriver, selector: str):
    return driver.find_element(By.CSS_SELECTOR, "helpline-chat").shadow_root.find_element(By.CSS_SELECTOR, selector)


def open_chat(driver: WebDriver, site: str) -> dict[str, Any]:
    driver.get(f"{site}/host")
    wait_for(driver, lambda s: s["toggle"])
    widget(driver, ".toggle").click()
    return wait_for(driver, lambda s: s["open"])


def write(driver: WebDriver, text: str) -> None:
    widget(driver, "textarea").send_keys(text + Keys.ENTER)


def sender_of_the_page(rasa: RasaStandIn, before: set[str]) -> str:
    new = set(rasa.senders) - before
    assert len(new) == 1, new
    return new.pop()


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_conversation_in_each_language(driver, site, rasa, language):
    standin = rasa[0]
    known = set(standin.senders)
    texts = ui_texts()[language]
    speaks(driver, "sq" if language == "en" else "en")  # she picks another language than her browser's
    open_chat(driver, site)
    Select(widget(driver, "select")).select_by_value(language)
    changed = said("utter_language_changed", language)["text"]
    shown = wait_for(driver, lambda s: changed in s["bot"])
    assert (shown["title"], shown["exit"], shown["send"], shown["placeholder"], shown["notice"], shown["lang"]) == (
        texts["title"], texts["exit"], texts["send"], texts["placeholder"], texts["not_emergency"], language
    )
    assert shown["numbers"] == emergency.load().numbers_for(None, language)
    assert shown["her"] == []  # choosing the language is not a message of hers

    write(driver, GREETING[language])
    offer = said("utter_how_can_i_help", language)
    shown = wait_for(driver, lambda s: offer["text"] in s["bot"])
    assert shown["her"] == [GREETING[language]]
    assert shown["buttons"][-1] == [b["title"] for b in offer["buttons"]]

    shelter = next(b for b in offer["buttons"] if b["payload"] == "/seek_shelter")
    buttons = driver.find_element(By.CSS_SELECTOR, "helpline-chat").shadow_root.find_elements(
        By.CSS_SELECTOR, ".buttons button"
    )
    next(b for b in buttons if b.text == shelter["title"]).click()
    acknowledged = said("utter_ack_shelter", language)["text"]
    shown = wait_for(driver, lambda s: acknowledged in s["bot"])
    assert shown["her"] == [GREETING[language], shelter["title"]]  # she sees the title she chose

    sender = sender_of_the_page(standin, known)
    assert standin.texts_of(sender) == [
        f'/choose_language{{"language": "{language}"}}', GREETING[language], "/seek_shelter"
    ]


@pytest.mark.parametrize("language", ["sq-AL", "mk", "de-DE"])
def test_the_first_screen_is_in_the_browsers_language_with_the_numbers(driver, site, language):
    speaks(driver, language)
    expected = language[:2] if language[:2] in LANGUAGES else "en"
    shown = open_chat(driver, site)
    texts = ui_texts()[expected]
    assert shown["lang"] == expected
    assert shown["notice"] == texts["not_emergency"]
    assert shown["numbers"] == emergency.load().numbers_for(None, expected)
    assert shown["numbers"].splitlines()[0].endswith("112")
    assert Select(widget(driver, "select")).first_selected_option.get_attribute("value") == expected
    # The page's CSS did not reach into the widget.
    assert widget(driver, ".exit").value_of_css_property("font-size") == "16px"
    assert widget(driver, "textarea").is_displayed()


def _quick_exit_leaves_no_way_back(driver: WebDriver, site: str, leave) -> None:
    driver.get(f"{site}/before")
    open_chat(driver, site)
    write(driver, "Hello")
    wait_for(driver, lambda s: len(s["bot"]) == 1)
    leave()
    WebDriverWait(driver, WAIT_SECONDS).until(lambda d: d.current_url == f"{site}/weather")
    assert driver.find_element(By.ID, "weather").text == "Sunny"
    driver.back()
    WebDriverWait(driver, WAIT_SECONDS).until(lambda d: d.current_url == f"{site}/before")
    assert state(driver) is None  # Back goes to the page before: the chat page is not in the history


def test_quick_exit_replaces_the_page(driver, site):
    _quick_exit_leaves_no_way_back(driver, site, lambda: widget(driver, ".exit").click())


def test_escape_is_a_quick_exit(driver, site):
    _quick_exit_leaves_no_way_back(driver, site, lambda: ActionChains(driver).send_keys(Keys.ESCAPE).perform())


def test_quick_exit_hides_the_page_and_clears_the_chat_at_once(driver, site):
    open_chat(driver, site)
    write(driver, "Hello")
    wait_for(driver, lambda s: len(s["bot"]) == 1)
    # In the same task as the click: before the neutral site has even been asked for.
    while_leaving = driver.execute_script("""
        document.querySelector('helpline-chat').shadowRoot.querySelector('.exit').click();
        return [location.pathname, document.querySelector('helpline-chat'),
                getComputedStyle(document.documentElement).visibility];
    """)
    assert while_leaving == ["/host", None, "hidden"]
    WebDriverWait(driver, WAIT_SECONDS).until(lambda d: d.current_url == f"{site}/weather")


def test_keyboard_only(driver, site, rasa):
    standin = rasa[0]
    known = set(standin.senders)
    driver.get(f"{site}/host")
    wait_for(driver, lambda s: s["toggle"])
    keys = ActionChains(driver)
    for _ in range(4):  # the page's link, then quick exit, then the chat's button
        keys.send_keys(Keys.TAB).perform()
        if (state(driver) or {}).get("focused") == "toggle":
            break
    shown = state(driver)
    assert shown["focused"] == "toggle" and shown["outline"].startswith("solid")
    keys.send_keys(Keys.ENTER).perform()
    shown = wait_for(driver, lambda s: s["open"] and s["focused"] == "textarea")
    keys.send_keys("Hello").send_keys(Keys.ENTER).perform()
    offer = said("utter_how_can_i_help", "en")
    wait_for(driver, lambda s: offer["text"] in s["bot"])
    keys.key_down(Keys.SHIFT).send_keys(Keys.TAB).key_up(Keys.SHIFT).perform()  # the latest button
    shown = state(driver)
    last = offer["buttons"][-1]
    assert shown["focusedText"] == last["title"] and shown["outline"].startswith("solid")
    keys.send_keys(Keys.ENTER).perform()
    wait_for(driver, lambda s: s["her"] == ["Hello", last["title"]] and len(s["bot"]) == 2)
    assert standin.texts_of(sender_of_the_page(standin, known)) == ["Hello", last["payload"]]


def test_nothing_is_kept_in_the_browser(driver, site, proxy):
    open_chat(driver, site)
    write(driver, "Hello")
    wait_for(driver, lambda s: len(s["bot"]) == 1)
    for origin in (f"{site}/before", f"{proxy.url}/api/session"):  # the page's origin and the helpline's
        driver.get(origin)
        assert driver.get_cookies() == []
        assert driver.execute_script("return localStorage.length + sessionStorage.length") == 0
        assert driver.execute_script("return indexedDB.databases().then((d) => d.length)") == 0
        assert driver.execute_script("return caches.keys().then((k) => k.length)") == 0


def test_a_phone_screen(driver, site):
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride", {"width": 360, "height": 740, "deviceScaleFactor": 2, "mobile": True}
    )
    open_chat(driver, site)
    write(driver, "Hello")
    wait_for(driver, lambda s: len(s["buttons"]) == 1)
    layout = driver.execute_script("""
        const root = document.querySelector('helpline-chat').shadowRoot;
        const box = (selector) => { const r = root.querySelector(selector).getBoundingClientRect();
                                    return {left: r.left, right: r.right, top: r.top, bottom: r.bottom}; };
        return {width: innerWidth, height: innerHeight, scroll: document.documentElement.scrollWidth,
                widget: box('.widget'), exit: box('.exit'), send: box('.send'), input: box('textarea'),
                select: box('select'),
                buttons: [...root.querySelectorAll('.buttons button')].map((b) => b.getBoundingClientRect().right)};
    """)
    assert (layout["width"], layout["height"]) == (360, 740)
    for part in ("widget", "exit", "send", "input", "select"):
        box = layout[part]
        assert 0 <= box["left"] < box["right"] <= 360, (part, box)
        assert 0 <= box["top"] < box["bottom"] <= 740, (part, box)
    assert max(layout["buttons"]) <= 360  # long titles wrap
    assert layout["widget"]["right"] - layout["widget"]["left"] == 360  # the whole screen
    assert layout["scroll"] <= 360  # nothing to scroll sideways
    assert layout["exit"]["right"] - layout["exit"]["left"] >= 44  # big enough for a thumb


def test_without_websockets_the_chat_goes_on_over_http(driver, site, proxy, rasa):
    standin = rasa[0]
    known = set(standin.senders)
    proxy.refuse_sockets = True
    refused = proxy.upgrades
    open_chat(driver, site)
    WebDriverWait(driver, WAIT_SECONDS).until(lambda d: proxy.upgrades > refused)
    write(driver, "Hello")
    offer = said("utter_how_can_i_help", "en")
    shown = wait_for(driver, lambda s: offer["text"] in s["bot"])
    assert shown["buttons"][-1] == [b["title"] for b in offer["buttons"]]
    assert standin.texts_of(sender_of_the_page(standin, known)) == ["Hello"]


def test_a_message_written_while_the_connection_is_down_is_sent_once_after_it(driver, site, proxy, rasa):
    standin = rasa[0]
    known = set(standin.senders)
    open_chat(driver, site)
    write(driver, "Hello")
    wait_for(driver, lambda s: len(s["bot"]) == 1)
    proxy.hold()
    proxy.cut()
    reconnecting = ui_texts()["en"]["reconnecting"]
    wait_for(driver, lambda s: s["status"] == reconnecting)
    write(driver, "Are you still there?")
    waiting = ui_texts()["en"]["waiting"]
    wait_for(driver, lambda s: s["her"] == ["Hello", "Are you still there?"] and s["waiting"] == [None, waiting])
    sender = sender_of_the_page(standin, known)
    assert standin.texts_of(sender) == ["Hello"]  # not sent yet: no connection
    proxy.release()
    shown = wait_for(driver, lambda s: len(s["bot"]) == 2 and s["status"] == "")
    assert standin.texts_of(sender) == ["Hello", "Are you still there?"]
    assert shown["bot"][1] == said("utter_how_can_i_help", "en")["text"]
    wait_for(driver, lambda s: s["waiting"] == [None, None])  # answered: acknowledged


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def asked(standin: RasaStandIn, sender: str) -> list[str]:
    """Her messages as they reached the assistant, answered yet or not."""
    calls = [c.json() for c in standin.recorder.calls if c.path == "/webhooks/rest/webhook"]
    return [call["message"] for call in calls if call["sender"] == sender]


def test_a_message_the_helpline_lost_in_a_restart_is_sent_again(driver, rasa, assistant):
    exit_port = free_port()
    with ExitStack() as first_run:
        before = first_run.enter_context(running_app(rasa[1]))
        with TcpProxy(port_of(before.url)) as proxy, Served(
            organisation_site(proxy.url, f"http://127.0.0.1:{exit_port}/weather"), port=exit_port
        ) as site:
            known = set(assistant.senders)
            assistant.up = False
            open_chat(driver, site.url)
            write(driver, "Hello")
            waiting = ui_texts()["en"]["waiting"]
            shown = wait_for(driver, lambda s: len(s["bot"]) == 1 and s["waiting"] == [waiting])
            assert "112" in shown["bot"][0]  # the numbers; her message is not answered yet
            with running_app(rasa[1]) as after:
                proxy.target_port = port_of(after.url)
                first_run.close()  # the helpline restarts: what it held in memory is gone
                assistant.up = True
                offer = said("utter_how_can_i_help", "en")["text"]
                shown = wait_for(driver, lambda s: offer in s["bot"] and s["waiting"] == [None])
    assert shown["her"] == ["Hello"]
    assert assistant.texts_of(sender_of_the_page(assistant, known)) == ["Hello"]


def test_a_message_the_helpline_refuses_says_why(driver, site, rasa):
    standin = rasa[0]
    known = set(standin.senders)
    open_chat(driver, site)
    write(driver, "Hello")
    wait_for(driver, lambda s: len(s["bot"]) == 1)
    driver.execute_script("""
        const input = document.querySelector('helpline-chat').shadowRoot.querySelector('textarea');
        const max = input.maxLength;
        input.removeAttribute('maxlength');  // as if the page's limit were not the helpline's
        input.value = 'a'.repeat(max + 1);
    """)
    widget(driver, "textarea").send_keys(Keys.ENTER)
    shown = wait_for(driver, lambda s: len(s["bot"]) == 2)
    assert shown["bot"][1] == ui_texts()["en"]["too_long"]
    assert shown["waiting"] == [None, None]  # not waiting for an answer that will not come
    write(driver, "Are you there?")  # the refused message does not hold up the next one
    wait_for(driver, lambda s: len(s["bot"]) == 3)
    assert standin.texts_of(sender_of_the_page(standin, known)) == ["Hello", "Are you there?"]


def test_once_a_socket_worked_what_it_holds_is_not_posted_again(driver, site, proxy, assistant):
    known = set(assistant.senders)
    open_chat(driver, site)
    write(driver, "Hello")
    wait_for(driver, lambda s: len(s["bot"]) == 1)
    sender = sender_of_the_page(assistant, known)
    assistant.delay = 3.0
    write(driver, "Are you still there?")  # the helpline holds it: answered in 3 s
    WebDriverWait(driver, WAIT_SECONDS).until(lambda d: asked(assistant, sender) == ["Hello", "Are you still there?"])
    proxy.refuse_sockets = True  # the reconnect fails once: not a reason to post it too
    upgrades = proxy.upgrades
    proxy.cut()
    WebDriverWait(driver, WAIT_SECONDS).until(lambda d: proxy.upgrades > upgrades)
    proxy.refuse_sockets = False
    offer = said("utter_how_can_i_help", "en")["text"]
    wait_for(driver, lambda s: s["bot"].count(offer) == 2 and s["waiting"] == [None, None])
    assert asked(assistant, sender) == ["Hello", "Are you still there?"]  # not a second time over HTTP


def test_the_helplines_own_page_is_the_widget(driver, app, rasa):
    standin = rasa[0]
    known = set(standin.senders)
    driver.get(f"{app.url}/")
    shown = wait_for(driver, lambda s: s["open"])  # open at once (data-open)
    assert shown["notice"] == ui_texts()["en"]["not_emergency"]
    write(driver, "Hello")
    wait_for(driver, lambda s: said("utter_how_can_i_help", "en")["text"] in s["bot"])
    assert standin.texts_of(sender_of_the_page(standin, known)) == ["Hello"]
