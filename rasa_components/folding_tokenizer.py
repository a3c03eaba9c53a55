"""Whitespace tokens whose lemma is the folded form of the word.

Rasa's featurizers read ``token.lemma`` (``use_lemma`` defaults to true), so
folding there makes "Ниш", "Niš" and "nis" the same feature while the token
text and offsets, which entity extraction needs, stay as she wrote them.
"""

from __future__ import annotations

from typing import List, Text

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.tokenizers.tokenizer import Token
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
from rasa.shared.nlu.training_data.message import Message

from bot.text import fold


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=False
)
class FoldingTokenizer(WhitespaceTokenizer):
    """``WhitespaceTokenizer`` that sets each token's lemma to ``bot.text.fold(text)``."""

    def tokenize(self, message: Message, attribute: Text) -> List[Token]:
        tokens = super().tokenize(message, attribute)
        for token in tokens:
            token.lemma = fold(token.text)
        return tokens
