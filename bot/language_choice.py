"""Her explicit choice of a language: "English please", "na srpskom", "shqip ju lutem", "македонски".

A short message that names one of the helpline's languages, and says nothing
else than words of asking, is a choice of language whatever the intent model
predicts (it once took "English please" for her town while the form asked
for it). Deciding it here keeps the language switch independent of training.

Standard library only: Rasa's environment imports it
(``rasa_components/language_choice.py``) as well as the action server
(through ``bot/language.py``).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from bot.text import fold, words

if TYPE_CHECKING:
    from bot.settings import Language as Code

__all__ = ["explicit_choice", "name_span"]

# Folded names of each language in the four languages (Cyrillic folds to Latin),
# with their case forms ("na srpskom") and a few common typos.
_NAMES_BY_CODE: dict[str, str] = {
    "en": "en eng english englis inglish englsih anglisht anglishte anglishten angleze anglez "
          "engleski engleskom engleskog englesku angliski angliskiot",
    "sq": "sq shqip shqipe shqipen shqipja shqipes shqiptare albanian albanski albanskom albanskog "
          "albansku albanskiot",
    "sr": "sr srpski srpskom srpskog srpsku srpskiot serbian serbisht serbishte serbishten bosanski "
          "bosanskom bosanskog bosnian boshnjakisht hrvatski hrvatskom hrvatskog croatian kroatisht "
          "crnogorski crnogorskom crnogorskog montenegrin malazezisht srpskohrvatski serbo",
    "mk": "mk makedonski makedonskom makedonskog makedonsku makedonskiot macedonian maqedonisht "
          "maqedonishte maqedonishten maqedonase",
}
_NAMES: dict[str, str] = {
    name: code for code, names in _NAMES_BY_CODE.items() for name in names.split()
}
# Words of asking, politeness and "language" itself, folded. Anything else (a
# negation, a question about the chat, a request) means she says more than a choice.
_FILLER = frozenset(
    # English (and the pieces of "i'd", "let's", "i'm" that words() splits off)
    "please pls plz plis pleas thanks thank you thx ty in into to on language lang the a i id d s m "
    "ll want wanna would like prefer rather can could may we u me us speak talk write chat reply "
    "answer respond continue switch change go use only just better for ok okay yes yeah it be "
    "easier other let lets do is if possible with latin cyrillic letters "
    # Albanian
    "ju te lutem lutemi ne me mund a flisni flas flasim shkruaj shkruani shkruan vazhdo vazhdoj "
    "vazhdojme kalo kaloni nderro ndrro ndryshoje ndryshoni gjuha gjuhen gjuhe dua deshiroj "
    "preferoj vetem po mire faleminderit flm nese mundeni mundesh zgjedh pergjigju pergjigjuni "
    "keni ka ketu e ma kuptoj flitet "
    # Serbian, Bosnian, Croatian, Montenegrin
    "na molim vas moze mozemo mozete li da hocu zelim pisi pisite odgovori odgovaraj odgovarajte "
    "pricaj pricajmo razgovaraj prebaci prebacite promijeni promeni promjeni jezik jeziku jezikom "
    "latinica latinicom cirilica cirilicom samo radije bolje ako hvala nastavi nastavimo nastavite "
    "mi izaberi biram odberi govori govorite govoris znate "
    # Macedonian
    "ve molam sakam pisuvaj pisuvajte zboruvaj zboruvate zboruvame prodolzi prodolzhi prodolzime "
    "prefrli prefrlete smeni smenete promenete izberi izbiram jazik jazikot samo podobro fala "
    "blagodaram ajde dali pisuvam go".split()
)
MAX_WORDS = 8
_WORD = re.compile(r"\w+")


def explicit_choice(text: str) -> Code | None:
    """The language a short message asks for; None when it names none or several, or says more."""
    found = words(text)
    if not found or len(found) > MAX_WORDS or text.lstrip().startswith("/"):
        return None
    if any(word not in _NAMES and word not in _FILLER for word in found):
        return None
    named = {_NAMES[word] for word in found if word in _NAMES}
    return named.pop() if len(named) == 1 else None  # type: ignore[return-value]


def name_span(text: str) -> tuple[int, int]:
    """Where ``text`` names the language (the whole text when folding hides it), for the entity."""
    for word in _WORD.finditer(text):
        if fold(word.group()) in _NAMES:
            return word.start(), word.end()
    return 0, len(text)
