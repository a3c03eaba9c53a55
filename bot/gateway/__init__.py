"""The channel gateway: webhooks in, the assistant, replies out, exactly once and in order.

- ``queues`` and ``sql_queues``: per-conversation FIFO queues with leases (the
  inbox and the outbox), in Redis or in the directory's database;
- ``addresses`` and ``sealing``: her platform address, sealed under ``ADDRESS_KEY`` (the
  app's one ``Sealer``: her queued messages, kept replies and transcript too);
- ``pipeline``: accept, answer, deliver;
- ``chats``: erasure of the platform side (deleting messages on Telegram);
- ``webhooks``: the router of ``/webhooks/<platform>``.

The platforms themselves are in ``channels/``.
"""
