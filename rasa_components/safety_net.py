"""A deterministic safety net on top of the intent model.

Messages about immediate danger or self-harm must never be missed, whatever
the model learned. A match of the safety lexicon (``rasa_components.lexicon``)
sets the intent with confidence 1.0 and removes the rest of the ranking, so
that the fallback classifier after it cannot call the message ambiguous.
"""

from __future__ import annotations

import re
from typing import Any, Dict, List, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from rasa_components.lexicon import load_lexicon, match


class LexiconClassifier(GraphComponent, IntentClassifier):
    """Base of the classifiers that need no training: they hold the safety lexicon.

    Rasa builds them from ``create`` each time a model is loaded, so edits of
    the lexicon take effect at the next start, without training.
    """

    def __init__(self, lexicon: Dict[Text, "re.Pattern[str]"]) -> None:
        self._lexicon = lexicon

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "LexiconClassifier":
        return cls(load_lexicon())

    @staticmethod
    def force_intent(message: Message, name: Text) -> None:
        """Set ``name`` with confidence 1.0 and nothing else in the ranking."""
        top = {"name": name, "confidence": 1.0}
        message.set(INTENT, top, add_to_output=True)
        message.set(INTENT_RANKING_KEY, [top], add_to_output=True)


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False
)
class SafetyNet(LexiconClassifier):
    """Overrides the predicted intent when the safety lexicon matches."""

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            intent = match(self._lexicon, message.get(TEXT) or "")
            if intent is not None:
                self.force_intent(message, intent)
        return messages
