"""Messaging platform adapters (Telegram, Viber, WhatsApp, web chat widget).

Each platform becomes one module behind one small interface that turns a
platform update into ``(pseudonymous sender, text)`` for
``bot.conversations.Conversations.handle`` and sends its replies back. The
local web chat of ``bot.app`` is the first user of that path.
"""
