"""Instructions from the assistant to the app, sent as custom messages (never shown to her).

The action server cannot reach the app's stores; it asks through its replies,
which Rasa returns to the app as ``{"custom": {...}}`` messages:

- ``erase_conversation``: she confirmed "delete my data"; the app erases the
  conversation from every store once this turn is saved;
- ``numbers_given``: this turn gave her the emergency numbers. When the safety
  lexicon flags her message and a turn lacks it (the numbers action failed but
  Rasa went on to say something else), the app puts the numbers first itself;
- ``conversation_context``: her language and country as the assistant now
  knows them, so that the app's safety fallback answers in her language with
  her country's numbers when the assistant cannot answer;
- ``handoff``: a person should take over (``{"reason": "asked" | "not_understood" |
  "topic", "need": <category>, "place": <place>}``); the app's handoff
  (``bot.handoff``) asks her consent and queues the chat.
"""

ERASE_DIRECTIVE = "erase_conversation"
CONTEXT_DIRECTIVE = "conversation_context"
NUMBERS_DIRECTIVE = "numbers_given"
HANDOFF_DIRECTIVE = "handoff"
