"""Messaging platforms, one module each behind ``channels.base.Channel``.

``channels.registry.open_channels`` builds the configured ones; each
platform module imports only ``channels.base`` and its own libraries. The shared path
behind them (queues, outbox, addresses) is ``bot.gateway``.
"""
