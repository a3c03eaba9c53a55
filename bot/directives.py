"""Instructions from the assistant to the app, sent as custom messages (never shown to her).

The action server cannot reach the app's stores; it asks through its replies,
which Rasa returns to the app as ``{"custom": {...}}`` messages:

- ``erase_conversation``: she confirmed "delete my data"; the app erases the
  conversation from every store once this turn is saved;
- ``conversation_context``: her language and country as the assistant now
  knows them, so that the app's safety fallback answers in her language with
  her country's numbers when the assistant cannot answer.
"""

ERASE_DIRECTIVE = "erase_conversation"
CONTEXT_DIRECTIVE = "conversation_context"
