"""Choosing a language does not depend on the intent model.

A short message that only names a language ("English please", "na srpskom",
``bot.language_choice.explicit_choice``) becomes ``choose_language`` with
confidence 1.0 and the ``language`` entity, whatever the model predicted
(it once took "English please" for her town during the form). The message
then holds nothing else, so the entities the model found in it are dropped
(a language name taken for a town would fill the form). Danger comes first:
a message the safety lexicon flags is left to SafetyNet.
"""

from __future__ import annotations

from typing import List

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.shared.nlu.constants import (
    ENTITIES,
    ENTITY_ATTRIBUTE_END,
    ENTITY_ATTRIBUTE_START,
    ENTITY_ATTRIBUTE_TYPE,
    ENTITY_ATTRIBUTE_VALUE,
    EXTRACTOR,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message

from bot.language_choice import explicit_choice, name_span
from rasa_components.lexicon import match
from rasa_components.safety_net import LexiconClassifier

INTENT_NAME = "choose_language"
ENTITY_NAME = "language"


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False
)
class LanguageChoice(LexiconClassifier):
    """Sets ``choose_language`` when a short message only names a language."""

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            text = message.get(TEXT) or ""
            code = explicit_choice(text)
            if code is None or match(self._lexicon, text) is not None:
                continue
            self.force_intent(message, INTENT_NAME)
            start, end = name_span(text)
            # start, end and extractor: `rasa test nlu` aligns predicted entities by them.
            entity = {
                ENTITY_ATTRIBUTE_TYPE: ENTITY_NAME,
                ENTITY_ATTRIBUTE_VALUE: code,
                ENTITY_ATTRIBUTE_START: start,
                ENTITY_ATTRIBUTE_END: end,
                EXTRACTOR: type(self).__name__,
            }
            message.set(ENTITIES, [entity], add_to_output=True)
        return messages
