"""The counsellors' Telegram bot: requests posted to their group, Take, and her chat in a private one.

python-telegram-bot in webhook mode inside the app: an ``Application`` without an
updater, fed by the app's own endpoint (``POST /webhooks/counsellor``,
``bot.handoff.webhook``), its API base shared with her Telegram channel
(``TELEGRAM_API_BASE``). It is a ``HandoffListener`` of the service: each new request
is posted to the counsellors' group with a Take button; the counsellor who takes it
gets the chat so far in their private chat with the bot, her messages there, each
prefixed with her label, and answers by writing back.

Any instance can handle any update: what it must know about a chat it did not see
start is in live state (the group post of a request, ``handoff:post:<id>``; the chat a
counsellor's words go to, ``handoff:use:<counsellor id>``: the one taken last, or chosen
with ``/use`` or a button since) or in the update itself (a reply names its chat by the
label the replied-to message starts with). With several chats each send is confirmed
with the label it went to.

A request's group post loses its Take button once it cannot be taken (``closed``: she
stopped waiting, was blocked or erased, or her message waited its time out; ``taken``);
when she is erased, it keeps nothing of her (no label, need or place), and live state
forgets the post once the chat is over (kept meanwhile as long as a request may wait:
a message she left outside the hours waits days).

Her words also reach Telegram as copies in the counsellors' private chats (the chat so
far, each of her messages), and Telegram lets a bot delete its own messages only for 48
hours. The ids of the bot's messages about a chat are kept that long in live state
(``handoff:copies:<id>``, no text), so that her erasure deletes them in every counsellor's
chat they went to. Older copies, and what counsellors wrote there themselves, stay in
the counsellors' Telegram, where the helpline cannot erase them: counsellors delete them.

Only registered counsellors (``helpline counsellors add``) get anything: anyone else
gets one polite refusal per message or press, and nothing about any chat. Talk in
groups is ignored; only the buttons of the group post are pressed there.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Message, ReplyParameters, Update
from telegram.constants import BulkRequestLimit, ChatType, MessageLimit
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    CallbackContext,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    ExtBot,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.cancellation import cancel_and_wait
from bot.handoff.records import Counsellor
from bot.handoff.service import ActiveChat, HandoffService, ReplyStatus, TakeStatus, Waiting
from bot.handoff.store import Line
from bot.handoff.telegram_texts import REFUSAL, RISK, RISK_NONE, TEXTS
from bot.live import LiveState
from bot.settings import Settings
from channels.text import split_text

logger = logging.getLogger(__name__)

CREDENTIALS = ("COUNSELLOR_BOT_TOKEN", "COUNSELLOR_WEBHOOK_SECRET", "COUNSELLOR_GROUP_CHAT_ID")
ALLOWED_UPDATES = ("message", "callback_query")
STATE_SECONDS = 86400.0  # a counsellor's chosen chat, in live state (a group post: as long as it may wait)
SEEN_SECONDS = 86400.0  # an update's id is remembered this long (Telegram keeps undelivered ones 24 h)
COPIES_SECONDS = 48 * 3600.0  # Telegram lets a bot delete its messages this long after sending them
ERASED = "erased"  # why a chat ended or closed: her data was erased
MAX_START_DELAY_SECONDS = 30.0  # between attempts to reach Telegram at start
QUEUE_SHOWN = 20  # /queue lists (and offers Take for) the first ones only
TAKE_ANSWERS = {TakeStatus.TAKEN: "taken", TakeStatus.ALREADY_TAKEN: "already_taken",
                TakeStatus.AT_LIMIT: "at_limit", TakeStatus.GONE: "gone"}
REPLY_REFUSALS = {ReplyStatus.EMPTY: "empty", ReplyStatus.NOT_YOURS: "not_yours",
                  ReplyStatus.UNREACHABLE: "not_delivered", ReplyStatus.WINDOW_CLOSED: "window_closed"}
_LABEL = re.compile(r"\[([^\]\s]+)\] ")  # what every message about one of her chats starts with
_AFTER_COMMAND = re.compile(r"^/\S+\s*(.*)$", re.DOTALL)

Buttons = Sequence[tuple[str, str]]  # (title, callback data)


class NotReady(RuntimeError):
    """The bot has not reached Telegram since the app started: an update cannot be handled yet."""


@dataclass(frozen=True)
class Credentials:
    """The counsellor bot's configuration; the bot is off unless all of it is set."""

    token: str = field(repr=False)
    secret: str = field(repr=False)
    group_chat_id: int
    api_base: str

    @classmethod
    def from_settings(cls, settings: Settings) -> Credentials | None:
        token, secret = settings.counsellor_bot_token, settings.counsellor_webhook_secret
        group = settings.counsellor_group_chat_id
        if token is None or secret is None or group is None:
            return None
        if not token.get_secret_value() or not secret.get_secret_value():
            return None
        return cls(token.get_secret_value(), secret.get_secret_value(), group, settings.telegram_api_base)

    @property
    def base_url(self) -> str:
        return f"{self.api_base}/bot"

    @property
    def base_file_url(self) -> str:
        return f"{self.api_base}/file/bot"


async def register_webhook(credentials: Credentials, url: str) -> None:
    """Tell Telegram to deliver the counsellor bot's messages and presses to ``url``, with the secret."""
    async with Bot(credentials.token, base_url=credentials.base_url,
                   base_file_url=credentials.base_file_url) as bot:
        await bot.set_webhook(url, secret_token=credentials.secret, allowed_updates=list(ALLOWED_UPDATES))


class _Context(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], dict[Any, Any]]):
    """The context of one update (shared by its handlers): the counsellor the gate let through."""

    counsellor: Counsellor


@dataclass(frozen=True)
class _Post:
    """What live state keeps of a request: her label, and the group post (None if not posted)."""

    label: str
    message_id: int | None


class CounsellorBot:
    """The counsellor bot of one app instance."""

    def __init__(self, credentials: Credentials, service: HandoffService, live: LiveState) -> None:
        self.secret = credentials.secret
        self._group = credentials.group_chat_id
        self._service = service
        self._live = live
        self.application = (
            Application.builder().token(credentials.token).updater(None)
            .base_url(credentials.base_url).base_file_url(credentials.base_file_url)
            .context_types(ContextTypes(context=_Context)).build()
        )
        self._bot = self.application.bot
        self._retrying: asyncio.Task[None] | None = None
        self._add_handlers()

    @classmethod
    def from_settings(cls, settings: Settings, service: HandoffService, live: LiveState) -> CounsellorBot | None:
        """The bot, or None (one log line) when it is not configured."""
        credentials = Credentials.from_settings(settings)
        if credentials is None:
            logger.info("the counsellor bot is off: set %s to turn it on", ", ".join(CREDENTIALS))
            return None
        return cls(credentials, service, live)

    @property
    def ready(self) -> bool:
        return self.application.running

    async def start(self) -> None:
        """Listen to the service and start (``getMe`` first). Telegram unreachable delays the bot,
        never the app: it is tried again in the background, and its webhook answers 503 meanwhile."""
        self._service.subscribe(self)
        if not await self._try_start():
            self._retrying = asyncio.create_task(self._retry_start())

    async def stop(self) -> None:
        if self._retrying is not None:
            await cancel_and_wait([self._retrying])
        if self.application.running:
            await self.application.stop()
        await self.application.shutdown()

    async def _try_start(self) -> bool:
        try:
            await self.application.initialize()
            await self.application.start()
        except TelegramError as error:
            logger.warning("the counsellor bot cannot reach Telegram yet: %s", type(error).__name__)
            return False
        logger.info("the counsellor bot is on")
        return True

    async def _retry_start(self) -> None:
        delay = 1.0
        while True:
            await asyncio.sleep(delay)
            if await self._try_start():
                return
            delay = min(2 * delay, MAX_START_DELAY_SECONDS)

    def parse(self, data: object) -> Update:
        """The update in a webhook's JSON; ValueError when it is not one."""
        if not isinstance(data, dict):
            raise ValueError("not a Telegram update")
        try:
            return Update.de_json(data, self._bot)
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise ValueError("not a Telegram update") from error

    async def process(self, update: Update) -> None:
        """Handle one update once, on whichever instance gets it first (Telegram delivers an
        update again when it missed our answer: the counsellor's words must not reach her
        twice); a handler's failure is logged, and a press still answered. NotReady before the
        bot could start."""
        if not self.ready:
            raise NotReady("the counsellor bot has not reached Telegram yet")
        if not await self._live.lock(f"counsellor-update:{update.update_id}", uuid.uuid4().hex, SEEN_SECONDS):
            logger.info("the counsellor bot ignored an update delivered again")
            return
        await self.application.process_update(update)

    def _add_handlers(self) -> None:
        app = self.application
        app.add_handler(TypeHandler(Update, self._gate), group=-1)
        commands = {"start": self._start, "help": self._start, "queue": self._queue, "chats": self._chats,
                    "use": self._use, "end": self._end, "transfer": self._transfer, "note": self._note,
                    "away": self._away, "back": self._back, "canned": self._canned}
        for name, command in commands.items():
            app.add_handler(CommandHandler(name, command))
        app.add_handler(MessageHandler(filters.COMMAND, self._start))
        app.add_handler(MessageHandler(filters.TEXT, self._relay))
        app.add_handler(MessageHandler(filters.ALL, self._text_only))
        presses = {"take": self._take, "use": self._pick, "send": self._pick_and_send, "canned": self._send_canned}
        for prefix, press in presses.items():
            app.add_handler(CallbackQueryHandler(press, pattern=f"^{prefix}:"))
        app.add_handler(CallbackQueryHandler(self._stale_press))
        app.add_error_handler(self._failed)

    # ------------------------------------------------------------ the gate

    async def _gate(self, update: Update, context: _Context) -> None:
        """Let through registered counsellors only, in their private chat or pressing a button;
        refuse anyone else, once per message or press; ignore talk in groups."""
        user, chat = update.effective_user, update.effective_chat
        private = chat is not None and chat.type == ChatType.PRIVATE
        if user is None or not (private or update.callback_query):
            raise ApplicationHandlerStop
        counsellor = await self._service.counsellors.by_telegram(user.id)
        if counsellor is None:
            logger.info("the counsellor bot refused someone who is not a registered counsellor")
            if update.callback_query:
                await update.callback_query.answer(REFUSAL)
            elif chat is not None:
                await self._bot.send_message(chat.id, REFUSAL)
            raise ApplicationHandlerStop
        context.counsellor = counsellor

    # ---------------------------------------------- the service's events

    async def requested(self, waiting: Waiting) -> None:
        """Post the request to the counsellors' group with a Take button."""
        take = [(TEXTS["take_button"].format(label=waiting.label), f"take:{waiting.handoff_id}")]
        post = await self._bot.send_message(self._group, _summary(waiting), reply_markup=_keyboard(take))
        await self._remember(waiting.handoff_id, _Post(waiting.label, post.message_id))

    async def taken(self, handoff_id: str, counsellor: Counsellor) -> None:
        """Say in the group who took it; give the counsellor the chat so far."""
        chat = await self._held(counsellor, handoff_id)
        if chat is None:  # already ended or passed on
            return
        if await self._post(handoff_id) is None:  # not posted by a bot: keep her label for what follows
            await self._remember(handoff_id, _Post(chat.label, None))
        await self._edit_post(handoff_id, "request_taken", channel=chat.channel, language=chat.language,
                              name=counsellor.display_name)
        if counsellor.telegram_user_id is not None:
            await self._select(counsellor, chat)  # the one just taken, not one chosen before
            lines = await self._service.lines(counsellor, handoff_id) or []
            history = "\n".join(_line(line) for line in lines) or TEXTS["nothing_yet"]
            intro = TEXTS["yours"].format(channel=chat.channel, language=chat.language, label=chat.label,
                                          window=_window(await self._service.window_left(handoff_id)))
            await self._send(counsellor.telegram_user_id, f"{intro}\n{history}", label=chat.label,
                             about=handoff_id)

    async def her_message(self, handoff_id: str, counsellor_id: int, text: str) -> None:
        await self._tell(counsellor_id, handoff_id, text)

    async def ended(self, handoff_id: str, counsellor_id: int, why: str) -> None:
        """Tell the counsellor; the chat is over for good (its post already says who took it)."""
        if why == ERASED:
            await self._delete_copies(handoff_id)
        await self._tell(counsellor_id, handoff_id, TEXTS.get(f"ended_{why}", TEXTS["ended"]))
        await self._forget_post(handoff_id, "request_erased" if why == ERASED else None)

    async def closed(self, handoff_id: str, why: str) -> None:
        """It left the queue without a counsellor ("cancelled", "blocked", "erased", "expired"):
        its post loses the Take button (erased: her label and details too). A counsellor may have
        had the chat before it went back to the queue, or before it ended (she erased her data
        after the chat was over): her erasure deletes their copies."""
        if why == ERASED:
            await self._delete_copies(handoff_id)
        await self._forget_post(handoff_id, "request_erased" if why == ERASED else "request_gone")

    async def released(self, handoff_id: str, counsellor_id: int, why: str) -> None:
        await self._tell(counsellor_id, handoff_id, TEXTS.get(f"released_{why}", TEXTS["released"]))

    async def _tell(self, counsellor_id: int, handoff_id: str, text: str) -> None:
        """A message about one of her chats, labelled, in the counsellor's private chat."""
        counsellor = await self._service.counsellors.by_id(counsellor_id)
        if counsellor is None or counsellor.telegram_user_id is None:
            return
        post = await self._post(handoff_id)
        await self._send(counsellor.telegram_user_id, text, label=post.label if post else "?",
                         about=handoff_id)

    # ------------------------------------------------------------ commands

    async def _start(self, update: Update, context: _Context) -> None:
        await self._answer(update, TEXTS["start"].format(name=context.counsellor.display_name))

    async def _queue(self, update: Update, context: _Context) -> None:
        waiting = (await self._service.waiting())[:QUEUE_SHOWN]
        if not waiting:
            await self._answer(update, TEXTS["queue_empty"])
            return
        text = "\n".join(TEXTS["queue_line"].format(
            position=w.position, label=w.label, risk=RISK.get(w.reason, RISK_NONE), channel=w.channel, language=w.language,
            waited=_duration(w.waited_seconds)) for w in waiting)
        take = [(TEXTS["take_button"].format(label=w.label), f"take:{w.handoff_id}") for w in waiting]
        await self._answer(update, text, buttons=take)

    async def _chats(self, update: Update, context: _Context) -> None:
        counsellor = context.counsellor
        chats = await self._service.chats_of(counsellor.id)
        selected = await self._live.value_get(_use_key(counsellor.id)) if len(chats) > 1 else None
        lines = [TEXTS["chats_line"].format(
            label=chat.label, channel=chat.channel, language=chat.language,
            since=_duration(time.time() - chat.since),
            selected=TEXTS["chats_selected"] if chat.handoff_id == selected else "") for chat in chats]
        if await self._service.is_away(counsellor.id):
            lines.append(TEXTS["chats_away"])
        await self._answer(update, "\n".join(lines) or TEXTS["chats_none"])

    async def _use(self, update: Update, context: _Context) -> None:
        if not context.args:
            chats = await self._service.chats_of(context.counsellor.id)
            await self._answer(update, TEXTS["use_usage"] if chats else TEXTS["chats_none"],
                               buttons=_choices(chats, "use"))
            return
        chat = await self._target(update, context, label=context.args[0])
        if chat is not None:
            await self._select(context.counsellor, chat)
            await self._answer(update, TEXTS["selected"].format(label=chat.label))

    async def _end(self, update: Update, context: _Context) -> None:
        chat = await self._target(update, context, label=_first(context.args))
        if chat is not None and not await self._service.end(context.counsellor.id, chat.handoff_id):
            await self._answer(update, TEXTS["not_yours"], label=chat.label)
        # the service's ``ended`` event tells the counsellor it is over

    async def _transfer(self, update: Update, context: _Context) -> None:
        """``/transfer [label] <counsellor id | queue>``."""
        words = list(context.args or [])
        destination = words.pop() if words and _is_destination(words[-1]) else None
        if destination is None or len(words) > 1:
            await self._answer(update, TEXTS["transfer_usage"].format(
                counsellors=await self._colleagues(context.counsellor)))
            return
        chat = await self._target(update, context, label=_first(words))
        if chat is None:
            return
        to = None if destination.lower() == "queue" else int(destination)
        if not await self._service.transfer(context.counsellor.id, chat.handoff_id, to):
            await self._answer(update, TEXTS["transfer_failed"], label=chat.label)

    async def _note(self, update: Update, context: _Context) -> None:
        text = _after_command(update.effective_message)
        if not text:
            await self._answer(update, TEXTS["note_usage"])
            return
        chat = await self._target(update, context)
        if chat is None:
            return
        noted = await self._service.note(context.counsellor.id, chat.handoff_id, text)
        await self._answer(update, TEXTS["noted" if noted else "not_yours"], label=chat.label)

    async def _away(self, update: Update, context: _Context) -> None:
        await self._service.set_away(context.counsellor.id, True)
        await self._answer(update, TEXTS["away"])

    async def _back(self, update: Update, context: _Context) -> None:
        await self._service.set_away(context.counsellor.id, False)
        await self._answer(update, TEXTS["back"])

    async def _canned(self, update: Update, context: _Context) -> None:
        chat = await self._target(update, context, label=_first(context.args))
        if chat is None:
            return
        replies = self._service.canned(chat.language)
        buttons = [(title, f"canned:{chat.handoff_id}:{index}") for index, (title, _) in enumerate(replies)]
        text = TEXTS["canned"].format(language=chat.language) if replies else TEXTS["canned_none"]
        await self._answer(update, text, label=chat.label, buttons=buttons)

    # --------------------------------------------------- her chat, relayed

    async def _relay(self, update: Update, context: _Context) -> None:
        """The counsellor's words, to the chat they are for; with several chats, each send says
        which one it went to (as a reply to the words), so that a wrong one shows at once."""
        chat = await self._target(update, context, relay=True)
        message = update.effective_message
        if chat is None or message is None or not message.text:
            return
        if await self._reply(update, context.counsellor, chat, message.text) and \
                len(await self._service.chats_of(context.counsellor.id)) > 1:
            await self._answer(update, TEXTS["sent_to"].format(label=chat.label), reply_to=message.message_id)

    async def _text_only(self, update: Update, context: _Context) -> None:
        await self._answer(update, TEXTS["text_only"])

    async def _reply(self, update: Update, counsellor: Counsellor, chat: ActiveChat, text: str) -> bool:
        """The words to her; when they did not go, the counsellor is told why (not theirs any
        more, she cannot be reached, WhatsApp's window has closed)."""
        status = await self._service.reply(counsellor.id, chat.handoff_id, text)
        if status is ReplyStatus.SENT:
            return True
        await self._answer(update, TEXTS[REPLY_REFUSALS[status]], label=chat.label)
        return False

    async def _target(self, update: Update, context: _Context, label: str | None = None,
                      relay: bool = False) -> ActiveChat | None:
        """The chat a message or command is for: the label given, else the chat of the message
        replied to, else the counsellor's only chat, else the one chosen last (taken, or picked
        with /use or a button). None after saying why not (with several and no choice: asking
        which, a button per chat)."""
        counsellor = context.counsellor
        chats = await self._service.chats_of(counsellor.id)
        message = update.effective_message
        wanted = label or _label_of(message.reply_to_message if message else None)
        if not chats:
            await self._answer(update, TEXTS["chats_none"])
            return None
        if wanted is not None:
            chat = next((c for c in chats if c.label == wanted), None)
            if chat is None:
                await self._answer(update, TEXTS["no_such_chat"].format(label=wanted))
            return chat
        if len(chats) == 1:
            return chats[0]
        selected = await self._live.value_get(_use_key(counsellor.id))
        chat = next((c for c in chats if c.handoff_id == selected), None)
        if chat is None and relay:  # the question replies to her words: a press sends them
            await self._answer(update, TEXTS["which"], buttons=_choices(chats, "send"),
                               reply_to=message.message_id if message else None)
        elif chat is None:
            await self._answer(update, TEXTS["which_command"], buttons=_choices(chats, "use"))
        return chat

    async def _select(self, counsellor: Counsellor, chat: ActiveChat) -> None:
        await self._live.value_set(_use_key(counsellor.id), chat.handoff_id, STATE_SECONDS)

    async def _held(self, counsellor: Counsellor, handoff_id: str) -> ActiveChat | None:
        return next((c for c in await self._service.chats_of(counsellor.id) if c.handoff_id == handoff_id), None)

    async def _colleagues(self, counsellor: Counsellor) -> str:
        lines = [TEXTS["transfer_counsellor"].format(
            id=other.id, name=other.display_name,
            away=TEXTS["transfer_away"] if await self._service.is_away(other.id) else "")
            for other in await self._service.counsellors.all() if other.id != counsellor.id]
        return "\n".join(lines)

    # -------------------------------------------------------------- presses

    async def _take(self, update: Update, context: _Context) -> None:
        query = update.callback_query
        handoff_id = _pressed(update)
        result = await self._service.take(context.counsellor.id, handoff_id)
        await query.answer(TEXTS[TAKE_ANSWERS[result.status]])
        if result.status == TakeStatus.GONE:
            await self._forget_post(handoff_id, "request_gone")
        # taken: the service's ``taken`` event updates the post and sends the chat so far

    async def _pick(self, update: Update, context: _Context) -> None:
        """A chat chosen with a button: the counsellor's messages go there from now on."""
        chat = await self._pressed_chat(update, context)
        if chat is not None:
            await self._select(context.counsellor, chat)
            selected = TEXTS["selected"].format(label=chat.label)
            await update.callback_query.answer(selected)
            await update.callback_query.edit_message_text(selected)

    async def _pick_and_send(self, update: Update, context: _Context) -> None:
        """A chat chosen for the words the question replied to: chosen, and the words sent there
        (once, however often the button is pressed)."""
        query = update.callback_query
        chat = await self._pressed_chat(update, context)
        if chat is None:
            return
        await self._select(context.counsellor, chat)
        words = query.message.reply_to_message if isinstance(query.message, Message) else None
        question = f"handoff:asked:{query.message.chat.id}:{query.message.message_id}" if query.message else ""
        if words is None or not words.text or not await self._live.lock(question, query.id, STATE_SECONDS):
            await query.answer(TEXTS["already_sent"])
            return
        if await self._reply(update, context.counsellor, chat, words.text):
            sent = TEXTS["sent_to"].format(label=chat.label)
            await query.answer(sent)
            await query.edit_message_text(sent)
        else:
            await query.answer()

    async def _send_canned(self, update: Update, context: _Context) -> None:
        query = update.callback_query
        handoff_id, _, index = _pressed(update).partition(":")
        chat = await self._held(context.counsellor, handoff_id)
        replies = self._service.canned(chat.language) if chat is not None else []
        if chat is None or not index.isdigit() or int(index) >= len(replies):
            await query.answer(TEXTS["not_yours"])
            return
        _, text = replies[int(index)]
        if await self._reply(update, context.counsellor, chat, text):
            await query.answer(TEXTS["sent_to"].format(label=chat.label))
            await self._answer(update, TEXTS["canned_sent"].format(text=text), label=chat.label,
                               about=chat.handoff_id)
        else:
            await query.answer()

    async def _pressed_chat(self, update: Update, context: _Context) -> ActiveChat | None:
        """The counsellor's chat a button names; None after answering the press when it is not theirs."""
        chat = await self._held(context.counsellor, _pressed(update))
        if chat is None:
            await update.callback_query.answer(TEXTS["not_yours"])
        return chat

    async def _stale_press(self, update: Update, context: _Context) -> None:
        await update.callback_query.answer()

    async def _failed(self, update: object, context: _Context) -> None:
        logger.error("the counsellor bot failed on an update: %s", type(context.error).__name__)
        if isinstance(update, Update) and update.callback_query:
            try:
                await update.callback_query.answer(TEXTS["failed"])
            except TelegramError:
                pass  # already answered: the button does not spin

    # -------------------------------------------------------------- sending

    async def _answer(self, update: Update, text: str, **options: Any) -> None:
        if update.effective_chat is not None:
            await self._send(update.effective_chat.id, text, **options)

    async def _send(self, chat_id: int, text: str, *, label: str | None = None, buttons: Buttons = (),
                    reply_to: int | None = None, about: str | None = None) -> None:
        """``text`` in as many messages as it takes, each starting with ``[label]`` (when about one
        of her chats); the buttons under the last, the first replying to ``reply_to``. ``about``:
        the handoff whose words these are: the messages' ids are kept for her erasure."""
        prefix = f"[{label}] " if label else ""
        parts = split_text(text, MessageLimit.MAX_TEXT_LENGTH - len(prefix))
        sent = []
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            message = await self._bot.send_message(
                chat_id, prefix + part, reply_markup=_keyboard(buttons) if last else None,
                reply_parameters=ReplyParameters(reply_to) if reply_to and index == 0 else None)
            sent.append(f"{chat_id}:{message.message_id}")
        if about is not None:
            await self._live.list_push(_copies_key(about), sent, COPIES_SECONDS)

    async def _delete_copies(self, handoff_id: str) -> None:
        """Her erasure: the bot's messages about her chat go from the counsellors' private chats
        (those Telegram still lets it delete; a failure costs only those)."""
        by_chat: dict[int, list[int]] = defaultdict(list)
        for copy in await self._live.list_take(_copies_key(handoff_id)):
            chat_id, _, message_id = copy.rpartition(":")
            by_chat[int(chat_id)].append(int(message_id))
        batch = BulkRequestLimit.MAX_LIMIT
        for chat_id, ids in by_chat.items():
            for start in range(0, len(ids), batch):
                try:
                    await self._bot.delete_messages(chat_id, ids[start:start + batch])
                except TelegramError as error:
                    logger.warning("copies of an erased chat were not deleted: %s", type(error).__name__)

    async def _edit_post(self, handoff_id: str, text: str, **values: str) -> None:
        """Rewrite the request's group post (its button goes); a failure only costs the update."""
        post = await self._post(handoff_id)
        if post is None or post.message_id is None:
            return
        try:
            await self._bot.edit_message_text(TEXTS[text].format(label=post.label, **values),
                                              chat_id=self._group, message_id=post.message_id)
        except TelegramError as error:
            logger.warning("a request's group post was not updated: %s", type(error).__name__)

    async def _forget_post(self, handoff_id: str, text: str | None) -> None:
        """The request is over for good: its post says ``text`` (if given), live state forgets it."""
        if text is not None:
            await self._edit_post(handoff_id, text)
        await self._live.delete(_post_key(handoff_id))

    async def _remember(self, handoff_id: str, post: _Post) -> None:
        raw = json.dumps({"label": post.label, "message_id": post.message_id})
        ttl = max(STATE_SECONDS, self._service.request_seconds)
        await self._live.value_set(_post_key(handoff_id), raw, ttl)

    async def _post(self, handoff_id: str) -> _Post | None:
        raw = await self._live.value_get(_post_key(handoff_id))
        return _Post(**json.loads(raw)) if raw else None


def _post_key(handoff_id: str) -> str:
    return f"handoff:post:{handoff_id}"


def _copies_key(handoff_id: str) -> str:
    return f"handoff:copies:{handoff_id}"


def _use_key(counsellor_id: int) -> str:
    return f"handoff:use:{counsellor_id}"


def _keyboard(buttons: Buttons) -> InlineKeyboardMarkup | None:
    if not buttons:
        return None
    return InlineKeyboardMarkup([[InlineKeyboardButton(title, callback_data=data)] for title, data in buttons])


def _choices(chats: list[ActiveChat], action: str) -> list[tuple[str, str]]:
    return [(f"[{chat.label}] {chat.channel} · {chat.language}", f"{action}:{chat.handoff_id}") for chat in chats]


def _pressed(update: Update) -> str:
    """What a button's callback data names after its action (``take:<handoff id>`` …)."""
    data = update.callback_query.data if update.callback_query else None
    return (data or "").partition(":")[2]


def _label_of(message: Message | None) -> str | None:
    """The label a message of the bot about one of her chats starts with."""
    found = _LABEL.match(message.text or "") if message is not None else None
    return found.group(1) if found else None


def _after_command(message: Message | None) -> str:
    found = _AFTER_COMMAND.match(message.text or "") if message is not None else None
    return found.group(1).strip() if found else ""


def _first(words: Sequence[str] | None) -> str | None:
    return words[0] if words else None


def _is_destination(word: str) -> bool:
    return word.lower() == "queue" or word.isdigit()


def _summary(waiting: Waiting) -> str:
    return TEXTS["request"].format(
        label=waiting.label, risk=RISK.get(waiting.reason, RISK_NONE), reason=waiting.reason.replace("_", " "),
        channel=waiting.channel, language=waiting.language, need=waiting.need or "—",
        place=waiting.place or "—", waited=_duration(waiting.waited_seconds), position=waiting.position,
        left=TEXTS["request_left_message"] if waiting.left_message else "")


def _line(line: Line) -> str:
    return TEXTS[f"line_{line.author}"].format(text=line.text, name=line.counsellor_name or "")


def _window(left: float | None) -> str:
    """The intro's line on how long her platform still takes replies (WhatsApp only)."""
    if left is None:
        return ""
    return TEXTS["window_left"].format(left=_duration(left)) if left > 0 else TEXTS["window_over"]


def _duration(seconds: float) -> str:
    minutes = int(max(0.0, seconds) // 60)
    if minutes < 1:
        return "under a minute"
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"
