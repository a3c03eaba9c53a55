"""Every text the counsellor bot shows counsellors (English), in one place.

Templates are ``str.format`` strings; ``{label}`` is her pseudonym label, the only
name a counsellor ever sees for her. Messages about one of her chats in a
counsellor's private chat get ``[label] `` put in front when sent, so that several
chats at once stay apart. What she reads lives in ``domain.yml``.
"""

from __future__ import annotations

REFUSAL = "This bot is only for the helpline's counsellors."

TEXTS: dict[str, str] = {
    # the group post of a new request
    "request": "New request [{label}]\nWhy: {reason} · risk: {risk}\nChannel: {channel} · language: {language}\n"
               "Needs: {need} · place: {place}\nWaiting: {waited} (place {position} in the queue){left}",
    "request_left_message": "\nShe left a message: nobody was free.",
    "take_button": "Take [{label}]",
    "request_taken": "[{label}] {channel} · {language}: taken by {name}.",
    "request_gone": "[{label}]: no longer waiting.",
    "request_erased": "This request is closed.",  # her data was erased: nothing of her stays
    # answers to Take
    "taken": "Taken",
    "already_taken": "Someone else took it",
    "at_limit": "You are at your limit",
    "gone": "She is no longer waiting",
    # the counsellor's private chat
    "yours": "Yours now ({channel} · {language}). Your replies now go to [{label}]. Write here to answer "
             "her; /end when you are done.{window}\nThe conversation so far:",
    # "yours"'s {window} on a WhatsApp chat (the only platform with a reply window); else nothing
    "window_left": "\nWhatsApp allows answers only until 24 hours after her last message: {left} left.",
    "window_over": "\nWhatsApp allows answers only until 24 hours after her last message, and that time "
                   "has passed: she cannot be answered now. You can answer her when she writes again.",
    "nothing_yet": "(nothing yet)",
    "line_her": "her: {text}",
    "line_assistant": "assistant: {text}",
    "line_counsellor": "{name}: {text}",
    "line_note": "note ({name}): {text}",
    "ended": "The chat has ended; she is back with the assistant.",
    "ended_erased": "She erased her data; the chat has ended.",
    "ended_expired": "Her conversation reached its retention period; the chat has ended.",
    "ended_blocked": "The sender was blocked; the chat has ended.",
    "released": "Back in the queue.",
    "released_timeout": "Back in the queue: her message waited too long for an answer.",
    "released_transferred": "Transferred.",
    "start": "Hello {name}. New requests are posted in the counsellors' group: press Take to answer one.\n"
             "/queue who is waiting\n/chats your chats\n/use LABEL write to that chat (or reply to "
             "one of its messages)\n/end [LABEL] end a chat\n/transfer [LABEL] COUNSELLOR_ID|queue\n"
             "/note TEXT an internal note\n/canned replies ready in her language\n/away, /back your "
             "presence",
    "queue_empty": "Nobody is waiting.",
    "queue_line": "{position}. [{label}] {risk} · {channel} · {language} · {waited}",
    "chats_none": "You hold no chat. /queue shows who is waiting.",
    "chats_line": "[{label}] {channel} · {language}, for {since}{selected}",
    "chats_selected": " (selected)",
    "chats_away": "You are away.",
    "which": "You hold several chats: which one is this for?",
    "which_command": "You hold several chats: choose one with /use LABEL, or reply to one of its messages.",
    "no_such_chat": "You hold no chat [{label}].",
    "not_yours": "Not yours any more.",
    "not_delivered": "Not delivered: she can no longer be reached.",
    "window_closed": "Not sent: WhatsApp allows answers only until 24 hours after her last message. "
                     "You can answer her when she writes again.",
    "empty": "Nothing to send.",
    "selected": "Now writing to [{label}].",
    "sent_to": "Sent to [{label}].",
    "already_sent": "Already sent",
    "use_usage": "/use LABEL: the chat your messages go to.",
    "text_only": "Only text reaches her.",
    "note_usage": "/note TEXT: a note on the chat, for counsellors only (she never sees it).",
    "noted": "Note saved.",
    "transfer_usage": "/transfer [LABEL] COUNSELLOR_ID, or /transfer [LABEL] queue. Counsellors:\n{counsellors}",
    "transfer_counsellor": "{id}: {name}{away}",
    "transfer_away": " (away)",
    "transfer_failed": "Not transferred: that counsellor is unknown or at their limit.",
    "away": "You are away. Your chats stay yours; /back when you return.",
    "back": "Welcome back.",
    "canned": "Replies ready in her language ({language}):",
    "canned_none": "No replies are ready in her language.",
    "canned_sent": "You sent: {text}",
    "failed": "That did not work; please try again.",
}

# The risk a request's reason carries, as counsellors read it.
RISK = {"danger": "immediate danger", "self_harm": "self-harm"}
RISK_NONE = "—"
