"""Which of the helpline's languages a message is written in.

lingua ships its models inside the package (nothing is downloaded). Its
Bosnian and Croatian answers mean Serbian here. Undecided messages ("ok",
"da") keep the conversation's language.

lingua's weak spot is Macedonian typed in Latin letters, which it takes for
Serbian, and very short messages; frequent words that only one of the two
languages uses decide between them.

What language she writes in is not what language she asks for ("anglisht" is
Albanian for "English"): ``explicit_choice`` (``bot/language_choice.py``,
importable without lingua) tells the second.
"""

from __future__ import annotations

from functools import lru_cache

from lingua import Language, LanguageDetector, LanguageDetectorBuilder

from bot.language_choice import explicit_choice
from bot.settings import Language as Code
from bot.text import words

__all__ = ["detect", "explicit_choice", "from_hint"]

MIN_WORDS = 3
MIN_CONFIDENCE = 0.6
# A message of one or two words decides only when the detector is nearly sure
# ("përshëndetje, mirëmbrëma" is Albanian; "ok" or "da" is anything).
SHORT_MIN_CONFIDENCE = 0.9
_CODES: dict[Language, Code] = {
    Language.ENGLISH: "en",
    Language.ALBANIAN: "sq",
    Language.SERBIAN: "sr",
    Language.BOSNIAN: "sr",
    Language.CROATIAN: "sr",
    Language.MACEDONIAN: "mk",
}

# A platform's hint (Telegram ``language_code``, Viber ``sender.language``): the
# languages of Bosnia, Croatia and Montenegro are answered in Serbian, as detected ones.
_HINTS: dict[str, Code] = {"en": "en", "sq": "sq", "sr": "sr", "bs": "sr", "hr": "sr", "me": "sr", "mk": "mk"}


def from_hint(hint: str | None) -> Code | None:
    """Our language for a platform's language hint (``"hr"``, ``"sr-Latn"``...), or None."""
    return _HINTS.get((hint or "")[:2].lower())


# Frequent folded words of one language that the other does not use.
_MACEDONIAN_ONLY = frozenset(
    "e vo so ve sakam sum sme kje ke kj vekje veke poveke nekoj nekoja koj koja koe kolku kade "
    "zosto zoshto sto bese nasilstvo zboram mozam mozes mislam molam blagodaram blagodarnost "
    "fala nemam niso ova tamu sega deka pomosh ushte uste mnogu maz mazot decata deteto bebeto "
    "tepa gi site moi toj taa baram rabota preku dodatok detski vednas umram ispiv utro den "
    "dali podobro edinstven odgovorot policijata telefonot zasolniste smestuvanje zeni vecer "
    "pisuvam pisuvaj odam gledame zavrsiv denes sekako razbira sakala napravam "
    "viknete povikaj povikajte stegna ziveam zhiveam zivee zhivee umira razmisluvam posakuvam "
    "postojam razvedam poddrska brakot kukja kukjata modrinki glavata udri vcera "
    "najavam uverenie drzavjanstvo profilot ucenuva prakja zakani zakanuva "
    "pomos itna razgovorot chatot celiot vrska ubie zakole".split()
)
_SERBIAN_ONLY = frozenset(
    "je u sa sam smo cu ces hocu zelim gde gdje nasilje sta zasto mogu ovo ovdje sada sad "
    "jer muz muza djeca dete dijete pomoc vec jos tuce bije molim hvala trazim posao jutro "
    "dan taj ona moji zene vece kuca kuci kucu kuce zivim ziveti zivjeti necu nisam ubije "
    "ljekar".split()
)


@lru_cache
def _detector() -> LanguageDetector:
    return LanguageDetectorBuilder.from_languages(*_CODES).with_preloaded_language_models().build()


def detect(text: str) -> Code | None:
    """Return the language code of ``text``, or None when it is too short or unclear."""
    count = len(words(text))
    if count == 0:
        return None
    totals: dict[Code, float] = {}
    for value in _detector().compute_language_confidence_values(text):
        code = _CODES[value.language]
        totals[code] = totals.get(code, 0.0) + value.value
    code, confidence = max(totals.items(), key=lambda item: item[1])
    if code in ("sr", "mk") and (marked := _serbian_or_macedonian(text)):
        code, confidence = marked, totals.get("sr", 0.0) + totals.get("mk", 0.0)
    needed = MIN_CONFIDENCE if count >= MIN_WORDS else SHORT_MIN_CONFIDENCE
    return code if confidence >= needed else None


def _serbian_or_macedonian(text: str) -> Code | None:
    """Decide between the two by words only one of them uses (folded: either script)."""
    folded = words(text)
    macedonian = sum(w in _MACEDONIAN_ONLY for w in folded)
    serbian = sum(w in _SERBIAN_ONLY for w in folded)
    if macedonian == serbian:
        return None
    return "mk" if macedonian > serbian else "sr"
