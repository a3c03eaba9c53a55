"""Counsellor handoff: a person takes over her chat, on any channel, and hands it back.

``service`` (the queue, claims, relay, timeouts), ``store`` and ``records`` (the durable
side), ``counsellors`` (who may take chats), ``hours`` (when), ``reach`` (her channel
outside her turn), the counsellors' Telegram bot (``telegram_bot``, ``webhook``), and
``wiring`` (built by ``bot.app``). The web console is ``bot.console``.
"""
