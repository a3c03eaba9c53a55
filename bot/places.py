"""Gazetteer of the Western Balkans: where a woman says she is, as a place with coordinates.

Women tell the helpline where they are in their own words: "jam nga Shkodra",
"živim u Nisu", "Скопје", "iz Novog Sada", "ne Prishtine". Services are matched
by distance, so the name has to become a ``Place`` with coordinates, whatever
the script, the diacritics or the grammatical case.

Data: ``data/places.csv`` (GeoNames, CC BY 4.0, built by
``data/build_places.py``) merged with the hand-kept ``data/places_extra.csv``
(countries, Skopje's municipalities, local name forms). See
``data/PLACES_SOURCE.md``.

Matching works on ``bot.text.fold`` forms. Every name is indexed twice: as
written, and as every "stem" left after cutting one Albanian, Serbian or
Macedonian case ending, so "Beogradu", "Novog Sada", "Tiranës" and "Shkodra"
meet their towns without a grammar. All lookups are dictionary hits; nothing
scans the ~1,700 places per word.

``find_in`` reads a whole message, where many place names are also ordinary
words ("bar", "nisu", "centar"); see ``Gazetteer.find_in`` for the rules
that keep those out. A message naming a country ("jam ne Kosove") resolves to
the country itself (``kind="country"``, at its capital's coordinates) unless it
also names a town, which is then preferred as the more precise answer.

A location she shares (a platform's map pin) becomes the town or municipality
it is in, the nearest within ``NEAREST_RADIUS_KM`` (``Gazetteer.place_at``),
sent on to the assistant as the message a place button would send
(``location_message``).
"""

from __future__ import annotations

import csv
import functools
import gc
import itertools
import json
import math
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from bot.text import fold

__all__ = ["Gazetteer", "Place", "distance_km", "location_message"]

DATA_DIR = Path(__file__).with_name("data")
PLACES_CSV = DATA_DIR / "places.csv"
EXTRA_CSV = DATA_DIR / "places_extra.csv"

EARTH_RADIUS_KM = 6371.0088
MIN_STEM = 3  # shorter stems ("ni" from "nis") would match too much
FUZZY_MIN = 5  # typo tolerance only for names this long: short names are too close
FUZZY_MIN_IN_TEXT = 6  # in running text, where every word is a candidate, longer still
MAX_NAME_WORDS = 5  # longer GeoNames alternates are official titles nobody types
EXACT_WEIGHT = 10  # a name as written beats an inflection of a town up to 10x bigger
NOTABLE_POPULATION = 10_000  # a place women name even with a common word ("u baru")
TOWN_POPULATION = 3_000  # below this, a village needs its exact name and a capital
NEAREST_RADIUS_KM = 30.0  # a shared location farther than this from any town is no place of ours

# Case endings of Albanian (definite -a/-i/-it/-in, genitive -ës, accusative
# -ën...) and Serbian/Bosnian (-u, -a, -om, -og, -oj, -ima...) in folded
# spelling, cut from what women write. Macedonian has no cases to cut.
ENDINGS: tuple[str, ...] = (
    "ima", "ama", "om", "em", "og", "oj", "es", "en", "it", "in", "ja",
    "a", "e", "i", "o", "u",
)
# Names are indexed in the nominative: only a final vowel is cut from them, so
# "Tirana" and "Tiranës" meet at "tiran". Cutting more ("Zemlen" -> "zeml")
# would let ordinary words ("zemlje") reach towns.
NAME_ENDINGS: tuple[str, ...] = ("a", "e", "i", "o", "u")

# Words that put a place after them: sr/bs/hr/me, mk (folded Cyrillic), sq, en,
# and nouns like "opština" or "komuna (e)". Not "na", "do", "at", "to": they
# come before "na poslu", "do kraja", "at home" far more often than a town.
LOCATIVE_CUES: frozenset[str] = frozenset(
    {
        "u", "iz", "od", "kod", "blizu", "pored", "kraj", "okolina", "okolini",
        "vo", "kaj", "okolu",
        "ne", "nga", "te", "tek", "afer", "prane", "rreth",
        "in", "from", "near", "around",
        "opstina", "opstini", "opcina", "grad", "gradu", "selo", "komuna", "qyteti",
        "bashkia", "qarku", "city", "town", "village", "municipality",
    }
)
# Cues strong enough to try a misspelt name after them: "kod" and "od" come
# before people's names too ("kod Dejana" is not Deçan misspelt).
TYPO_CUES: frozenset[str] = frozenset({"u", "iz", "vo", "ne", "nga", "in", "from"})
# Albanian links a noun to the name with an article: "komuna e Lipjanit".
_LINKING_ARTICLES = frozenset({"e", "i", "te", "se"})

# Words of everyday sr/mk/sq/en text (folded) that are also place names or
# their inflected forms. Such a word is a place only with evidence (see
# ``_plausible``). Found by running the 25,000 most frequent words of each
# language through ``find_in``; keep adding what real messages show.
COMMON_WORDS: frozenset[str] = frozenset(
    """
    bilo bila bili bile bil bilja bih nisu nisi cim cime
    bar bara bare bari baru barem baras barase baram barame
    brod broda brodu brodom brodi polje polja polju poljima
    istok istoka istoku istog istoga istom istoj istim istih
    visok visoka visoke visoki visoko visokog visokom visoku visokoj
    bor bora bori bore boro borci borca borcima
    gradsko gradska gradske gradski gradskog gradskoj gradskom gradsku
    aerodrom aerodroma aerodromu aerodromi pala pali palo pale pal grudi grudima
    mol moli mole kljuc kljuca prozor prozora prozoru prozore prozori prozorima
    otok otoka otoku bijeli bijela bijelo bijele bijelog bijelom bijeloj bijelu dublje
    pec peci pece puk puka plav plava plave plavi plavo plavog plavom plavoj plavu
    vitez viteza vitezi drugovi drugova drugove drugovima kovac kovaca
    resen resena reseno resenja resenje resenie resenija reseni
    stijena stijene padina padine padini padinama trn konac konca koncu koncem konci
    mahala mahal slatina olovo olova dobrota dobrote dobrotu dobroto turbo stanara stanari
    palanka palanke indija indije indiji indiju listica milicija ilinden
    manastir manastira manastiru manastiri manastirima
    golem golema golemi golemo svojata jajca jajce kaci cento centi cent vinci skokovi
    mogila lesnici klin koran
    vit viti vitin vitit vite vjet
    paper sent bare coke kg bore vince cairo lace laces lac mole rum vita
    palin paleo puke bile serb serbs
    jana jane jan petra petru petrom milica milic milan milana lazar lazara marina marin
    marine marino david davida sasa saso sanja jakov jakova lisa bojan bojana boris
    ilija ilic katarina katerina goran gorana dejan dragan dragana luka luke luku lukom
    marko marka mira delcev todorov aleksandrov pejo
    lezi leze lezao lezaja puca pucao puc roze roza rozi borio klisura klisure klisuru
    klisuri karlovac karlovca karlovcu debra vrana vrane krupa crnja listici bilic korice
    manastire verata kralevi pukaa divjaci lacio pavlov zajaci krupen foki katja apatija
    grams choke brodie mitrovic skokova zmajeva zmajevi stipe potoci ilica tiranin
    mahale kovina stanisic hadzic knezeva knezevi draco moles vito djakovic palicom
    mat mata mate mates mati matija mato has cuprija cupriji cupriju cuprije
    coca coco klise piss pisses
    albanian serbian macedonian montenegrin bosnian croatian shqip serbisht maqedonisht
    srpski srpskom srpskog makedonski makedonskom albanski albanskom bosanski hrvatski
    """.split()
)
# Words whose ordinary sense wins even after a cue ("u centru", "vo centar" =
# downtown; "ne bih" = "I wouldn't"; "Mirdita" = good day): a place only
# capitalised, exact and notable.
STRICT_WORDS: frozenset[str] = frozenset(
    """
    centar centra centru centrom centri centara center centre centrum
    bih mirdita
    """.split()
)

# When a message names several places, the most precise wins.
_KIND_RANK = {"municipality": 0, "town": 1, "country": 2}
_TOKEN = re.compile(r"[^\W_]+")  # letters and digits: "od 5 kg" must not read "od kg"
_SENTENCE_END = re.compile(r"[.!?\n]\s*$")


@dataclass(frozen=True)
class Place:
    """A town, municipality or country, with what distance and time need."""

    id: str  # stable: "gn:<geonameid>" or "x:<slug>" for the hand-kept supplement
    name: str  # local official name in Latin letters: "Skopje", "Shkodër", "Niš"
    country: str  # ISO 3166-1 alpha-2 (XK for Kosovo)
    kind: str  # "country" | "town" | "municipality"
    lat: float
    lon: float
    population: int
    timezone: str  # IANA, e.g. "Europe/Belgrade"


@dataclass(frozen=True)
class _Token:
    """One word of a message: as written, folded, and where it stands."""

    text: str
    folded: str
    capitalised: bool  # inside a sentence of a message not written in capitals
    hyphenated: bool  # glued to the previous word by a hyphen: "e-Albania"


@dataclass(frozen=True)
class _Match:
    """A place name found in a message, before it is judged plausible."""

    start: int
    length: int
    place: Place
    exact: bool
    fuzzy: bool = False


def distance_km(a_lat: float, a_lon: float, b_lat: float, b_lon: float) -> float:
    """Great-circle (haversine) distance in kilometres: accurate to ~0.5% here."""
    phi_a, phi_b = math.radians(a_lat), math.radians(b_lat)
    d_phi, d_lambda = phi_b - phi_a, math.radians(b_lon - a_lon)
    h = math.sin(d_phi / 2) ** 2 + math.cos(phi_a) * math.cos(phi_b) * math.sin(d_lambda / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def name_key(text: str) -> str:
    """Folded words of ``text`` joined by single spaces: the form names are indexed by."""
    return " ".join(_TOKEN.findall(fold(text)))


def word_stems(word: str, endings: tuple[str, ...] = ENDINGS) -> tuple[str, ...]:
    """``word`` and what is left of it after cutting each case ending it has.

    Every cut is kept, not only the longest, because endings overlap:
    "kavaja" must give "kavaj" (cut "a") to meet "Kavajë", not only "kava".
    """
    stems = [word]
    for ending in endings:
        if word.endswith(ending) and len(word) - len(ending) >= MIN_STEM:
            stems.append(word[: -len(ending)])
    return tuple(dict.fromkeys(stems))


_SOFTENED = {"ka": "c", "ga": "z", "ha": "s"}  # Luka -> Luci, Praga -> Prazi


def name_stems(word: str) -> tuple[str, ...]:
    """The stems a word of a place name is indexed by.

    Its final vowel cut, and the sound changes Serbian inflection makes: the
    "fleeting a" of -ac/-ak ("Čačak" -> "u Čačku", "Vršac" -> "iz Vršca") and
    k/g/h softened before -i ("Banja Luka" -> "u Banjoj Luci").
    """
    stems = list(word_stems(word, NAME_ENDINGS))
    if len(word) >= 5 and word[-2:] in ("ac", "ak"):
        stems.append(word[:-2] + word[-1])
    if len(word) >= 4 and word[-2:] in _SOFTENED:
        stems.append(word[:-2] + _SOFTENED[word[-2:]])
    return tuple(dict.fromkeys(stems))


def key_variants(
    words: Iterable[str], stems: Callable[[str], tuple[str, ...]] = word_stems
) -> Iterator[str]:
    """Every combination of the words' stems: "novog sada" -> ..., "nov sad"."""
    for combo in itertools.product(*(stems(word) for word in words)):
        yield " ".join(combo)


def _deletions(key: str) -> set[str]:
    """``key`` with one character removed, every way: the typo index's keys."""
    return {key[:i] + key[i + 1 :] for i in range(len(key))}


def _within_one_edit(a: str, b: str) -> bool:
    """True when ``a`` and ``b`` differ by one insertion, deletion, substitution or swap."""
    if a == b:
        return True
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) > len(b):
        a, b = b, a
    prefix = 0
    while prefix < len(a) and a[prefix] == b[prefix]:
        prefix += 1
    if len(a) < len(b):
        return a[prefix:] == b[prefix + 1 :]
    if a[prefix + 1 :] == b[prefix + 1 :]:
        return True
    swapped = a[prefix : prefix + 2] == b[prefix : prefix + 2][::-1]
    return swapped and a[prefix + 2 :] == b[prefix + 2 :]


def _read_rows(path: Path) -> Iterator[dict[str, str]]:
    """Rows of a places CSV, skipping the ``#`` comment lines of the hand-kept file."""
    with path.open(encoding="utf-8", newline="") as handle:
        yield from csv.DictReader(line for line in handle if not line.startswith("#"))


def _place_from_row(row: dict[str, str]) -> Place:
    """A ``Place`` from a complete CSV row."""
    return Place(
        id=row["id"],
        name=row["name"],
        country=row["country"],
        kind=row["kind"],
        lat=float(row["lat"]),
        lon=float(row["lon"]),
        population=int(row["population"] or 0),
        timezone=row["timezone"],
    )


def _corrected(place: Place, row: dict[str, str]) -> Place:
    """``place`` with the non-empty fields of a supplement row put over it."""
    fields = {key: str(value) for key, value in asdict(place).items()}
    fields.update({key: value for key, value in row.items() if key in fields and value})
    return _place_from_row(fields)


def _split_names(field: str) -> list[str]:
    """The names of a ``|``-separated CSV field."""
    return [name for name in field.split("|") if name.strip()]


def load_entries(base: Path = PLACES_CSV, extra: Path = EXTRA_CSV) -> list[tuple[Place, list[str]]]:
    """Places with all their names, GeoNames first, then the supplement merged in.

    A supplement row correcting a GeoNames place keeps the GeoNames name as one
    of the place's names, so "Belgrade" still finds "Beograd".
    """
    entries: dict[str, tuple[Place, list[str]]] = {}
    for row in _read_rows(base):
        place = _place_from_row(row)
        entries[place.id] = (place, [place.name, *_split_names(row["names"])])
    for row in _read_rows(extra):
        names = _split_names(row["names"])
        if row["id"] in entries:
            place, known = entries[row["id"]]
            place = _corrected(place, row)
            entries[place.id] = (place, [place.name, *known, *names])
        else:
            place = _place_from_row(row)
            entries[place.id] = (place, [place.name, *names])
    return list(entries.values())


class Gazetteer:
    """Places of AL, XK, MK, RS, BA and ME, found by any name women write for them."""

    def __init__(self, entries: Iterable[tuple[Place, Iterable[str]]]) -> None:
        self._places: dict[str, Place] = {}
        exact: dict[str, set[str]] = {}
        stemmed: dict[str, set[str]] = {}
        self._first_words: set[str] = set()
        self._max_words = 1
        for place, names in entries:
            self._places[place.id] = place
            for name in names:
                self._index(place.id, name_key(name), exact, stemmed)
        typo_keys, typos = self._index_typos(exact)
        # Tuples of strings, unlike sets, are left alone by the garbage
        # collector: as ~46,000 sets the index made every full collection
        # cost ~45 ms, paid by whichever message happened to trigger it.
        self._exact = _frozen(exact)
        self._stemmed = _frozen(stemmed)
        self._typo_keys = _frozen(typo_keys)
        self._typos = _frozen(typos)

    @classmethod
    def load(cls) -> Gazetteer:
        """The gazetteer of the checked-in data files, built once per process."""
        return _default_gazetteer()

    def __len__(self) -> int:
        return len(self._places)

    def places(self) -> list[Place]:
        """Every place, in no particular order."""
        return list(self._places.values())

    def get(self, place_id: str) -> Place:
        """The place with this id; ``KeyError`` when there is none."""
        return self._places[place_id]

    # -- indexing -----------------------------------------------------------

    def _index(
        self, place_id: str, key: str, exact: dict[str, set[str]], stemmed: dict[str, set[str]]
    ) -> None:
        """Index one folded name as written and by every stem combination."""
        words = key.split()
        if not words or len(words) > MAX_NAME_WORDS:
            return
        exact.setdefault(key, set()).add(place_id)
        for variant in key_variants(words, name_stems):
            stemmed.setdefault(variant, set()).add(place_id)
        if len(words) > 1:
            self._first_words.update(name_stems(words[0]))
            self._max_words = max(self._max_words, len(words))

    def _index_typos(
        self, exact: dict[str, set[str]]
    ) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
        """Names of towns (to their ids), and by each of their one-deletion forms.

        Only places of ``TOWN_POPULATION`` or more (and municipalities,
        countries): villages are so many, and so alike, that a misspelt word is
        one edit away from several of them.
        """
        typo_keys: dict[str, set[str]] = {}
        typos: dict[str, set[str]] = {}
        for key, ids in exact.items():
            towns = {pid for pid in ids if _town(self._places[pid])}
            if len(key) < FUZZY_MIN or not towns:
                continue
            typo_keys[key] = towns
            for deleted in _deletions(key):
                typos.setdefault(deleted, set()).add(key)
        return typo_keys, typos

    # -- lookups --------------------------------------------------------------

    def _lookup(self, words: list[str]) -> tuple[set[str], set[str]]:
        """Ids of places named exactly ``words``, and of those matching by stems."""
        exact = set(self._exact.get(" ".join(words), ()))
        stemmed: set[str] = set()
        for variant in key_variants(words):
            stemmed.update(self._stemmed.get(variant, ()))
        return exact, stemmed

    def _typo_lookup(self, words: list[str]) -> set[str]:
        """Ids of towns whose name is one typo away from ``words`` or a stem of them."""
        found: set[str] = set()
        for variant in key_variants(words):
            if len(variant) < FUZZY_MIN:
                continue
            keys = set(self._typos.get(variant, ()))  # a letter left out
            for deleted in _deletions(variant):
                if deleted in self._typo_keys:  # a letter too many
                    keys.add(deleted)
                keys.update(self._typos.get(deleted, ()))  # a letter wrong or swapped
            for key in keys:
                if _within_one_edit(variant, key):
                    found.update(self._typo_keys[key])
        return found

    def _best(self, exact: set[str], stemmed: set[str]) -> tuple[Place, bool] | None:
        """The likeliest place: most populous, a name as written weighing ``EXACT_WEIGHT``x."""
        candidates = exact | stemmed
        if not candidates:
            return None

        def score(place_id: str) -> tuple[int, str]:
            place = self._places[place_id]
            weight = EXACT_WEIGHT if place_id in exact else 1
            return (max(place.population, 1) * weight, place_id)

        best = max(candidates, key=score)
        return self._places[best], best in exact

    def resolve(self, name: str) -> Place | None:
        """The place one name as written refers to, or ``None``.

        Any case, script and diacritics; inflected forms ("Nisu", "Novog Sada",
        "Tiranës"); one typo ("Tiranna") in the name, five letters or more, of
        a town (see ``_index_typos``). Ties go to the most populous place, but
        a name as written beats an inflected form of a bigger place.
        """
        words = name_key(name).split()
        if not words or len(words) > MAX_NAME_WORDS:
            return None  # no place has so long a name (and matching its parts grows exponentially)
        found = self._best(*self._lookup(words))
        if found is not None:
            return found[0]
        fuzzy = self._best(set(), self._typo_lookup(words))
        return fuzzy[0] if fuzzy else None

    def find_in(self, text: str) -> Place | None:
        """The place a whole message names, or ``None``.

        Longer names are tried first and win over the words in them ("Novi
        Sad" over "Sad", "Kosovo Polje" over "Kosovo"). Many place names are
        also everyday words ("bar", "nisu", "Mirdita"), so each name found
        must be plausible (``_plausible``): the more it looks like an ordinary
        word, the more it needs a capital inside a sentence, a locative cue
        before it ("u", "iz", "ne", "nga", "vo", "od", "in", "from"...), or to
        be the whole message. Typos are forgiven only in a capitalised word
        right after a cue ("u Beogrdu"). When a message names several places,
        a municipality beats a town beats a country, then the first named wins:
        "Kumanovo, North Macedonia" is Kumanovo.
        """
        tokens = _tokenize(text)
        matches = self._matches(tokens)
        if not matches:
            return None
        best = min(matches, key=lambda m: (m.fuzzy, _KIND_RANK.get(m.place.kind, 3), m.start))
        return best.place

    def _matches(self, tokens: list[_Token]) -> list[_Match]:
        """Plausible, non-overlapping place names in ``tokens``, longest names first."""
        used = [False] * len(tokens)
        found: list[_Match] = []
        for length in range(min(self._max_words, len(tokens)), 0, -1):
            for start in range(len(tokens) - length + 1):
                if any(used[start : start + length]):
                    continue
                match = self._match_at(tokens, start, length)
                if match is not None and _plausible(match, tokens):
                    found.append(match)
                    used[start : start + length] = [True] * length
        return found

    def _match_at(self, tokens: list[_Token], start: int, length: int) -> _Match | None:
        """The place named by ``tokens[start:start+length]``, if any."""
        words = [token.folded for token in tokens[start : start + length]]
        if length > 1 and not self._first_words.intersection(word_stems(words[0])):
            return None
        best = self._best(*self._lookup(words))
        if best is not None:
            return _Match(start, length, best[0], exact=best[1])
        if length == 1 and _typo_worthy(tokens, start):
            notable = {pid for pid in self._typo_lookup(words) if _notable(self._places[pid])}
            fuzzy = self._best(set(), notable)
            if fuzzy is not None:
                return _Match(start, length, fuzzy[0], exact=False, fuzzy=True)
        return None

    def nearby(self, place: Place, radius_km: float) -> list[Place]:
        """Towns and municipalities within ``radius_km`` of ``place``, nearest first.

        ``place`` itself and countries (which sit at their capitals) are left out.
        """
        around = [(distance, other.id, other) for distance, other in
                  self._within(place.lat, place.lon, radius_km) if other.id != place.id]
        return [other for _, _, other in sorted(around, key=lambda item: item[:2])]

    def place_at(self, lat: float, lon: float, radius_km: float = NEAREST_RADIUS_KM) -> Place | None:
        """The town or municipality a location she shared is in, or None when none is near.

        The nearest place within ``radius_km``, distance counted in the place's
        size (``_reach_km``): a city is a point in the data, often kilometres
        from its centre, and the villages around it must not take its place
        ("Kobilja Glava" for the heart of Sarajevo). Only a place whose own
        name resolves to it: her place travels as a name (``location_message``)
        and is shown to her as one, so a village that shares its name with a
        bigger town gives way to the next place. Coordinates off the globe (or
        NaN) find nothing.
        """
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            return None
        around = [(distance / _reach_km(place), place.id, place)
                  for distance, place in self._within(lat, lon, radius_km)]
        for _, _, place in sorted(around, key=lambda item: item[:2]):
            resolved = self.resolve(place.name)
            if resolved is not None and resolved.id == place.id:
                return place
        return None

    def _within(self, lat: float, lon: float, radius_km: float) -> Iterator[tuple[float, Place]]:
        """Towns and municipalities within ``radius_km`` of a point, with their distance."""
        lat_span = radius_km / 110.5
        lon_span = radius_km / (111.3 * max(0.01, math.cos(math.radians(lat))))
        for other in self._places.values():
            if other.kind == "country":
                continue
            if abs(other.lat - lat) > lat_span or abs(other.lon - lon) > lon_span:
                continue
            distance = distance_km(lat, lon, other.lat, other.lon)
            if distance <= radius_km:
                yield distance, other


def _reach_km(place: Place) -> float:
    """How far a place reaches from its point: 1 km, growing with the square root of its people.

    About 5 km for Niš (250,000), 8 km for Sarajevo, 11 km for Belgrade.
    """
    return max(1.0, math.sqrt(place.population) / 100)


def location_message(lat: float, lon: float) -> str | None:
    """The Rasa shortcut that sets her place to the one a location she shared is in, or None.

    A shared location is turned into the message she would send with a place
    button, ``/inform_location{"location": "Niš"}``: the assistant resolves
    the name as always (``action_validate_slot_mappings``) and sets her place
    and country, and never sees her coordinates.
    """
    place = Gazetteer.load().place_at(lat, lon)
    if place is None:
        return None
    return "/inform_location" + json.dumps({"location": place.name}, ensure_ascii=False)


def _frozen(index: dict[str, set[str]]) -> dict[str, tuple[str, ...]]:
    """``index`` with each set of ids or keys as a sorted tuple."""
    return {key: tuple(sorted(values)) for key, values in index.items()}


@functools.cache
def _default_gazetteer() -> Gazetteer:
    """Build the gazetteer, then collect garbage once, at load time.

    The collection untracks the index's tuples; left to chance, that ~15 ms
    pass would fall on whichever message a woman happened to send next.
    """
    gazetteer = Gazetteer(load_entries())
    gc.collect()
    return gazetteer


def _tokenize(text: str) -> list[_Token]:
    """Words of ``text``, folded, and whether their capital says "a name".

    A capital says nothing at a sentence start, nor in a message written in
    capitals ("ZIVIM U NISU").
    """
    letters = [ch for ch in text if ch.isalpha()]
    shouting = len(letters) > 3 and sum(ch.isupper() for ch in letters) > 0.6 * len(letters)
    tokens = []
    previous_end = -1
    for match in _TOKEN.finditer(text):
        before = text[: match.start()]
        sentence_start = not before.strip() or _SENTENCE_END.search(before) is not None
        capitalised = match.group()[:1].isupper() and not sentence_start and not shouting
        hyphenated = text[previous_end : match.start()] == "-"
        tokens.append(_Token(match.group(), fold(match.group()), capitalised, hyphenated))
        previous_end = match.end()
    return tokens


def _cue_before(tokens: list[_Token], start: int) -> bool:
    """True when a locative cue ("u", "nga", "komuna e"...) comes right before ``start``."""
    if start >= 1 and tokens[start - 1].folded in LOCATIVE_CUES:
        return True
    return (
        start >= 2
        and tokens[start - 1].folded in _LINKING_ARTICLES
        and tokens[start - 2].folded in LOCATIVE_CUES
    )


def _town(place: Place) -> bool:
    """Big enough to be named without its exact spelling."""
    return place.population >= TOWN_POPULATION or place.kind != "town"


def _notable(place: Place) -> bool:
    """Big enough that a cue plus a common-looking word likely means it."""
    return place.population >= NOTABLE_POPULATION or place.kind != "town"


def _typo_worthy(tokens: list[_Token], start: int) -> bool:
    """Whether a word of a message may be a misspelt place name.

    One edit away from some place name is most words of six letters or more
    ("getting" / "Cetinje"), so only a capitalised word right after a cue
    ("u Beogrdu", "ne Prishtna"), not a common word, is tried.
    """
    token = tokens[start]
    return (
        len(token.folded) >= FUZZY_MIN_IN_TEXT
        and token.text[:1].isupper()
        and start >= 1
        and tokens[start - 1].folded in TYPO_CUES
        and token.folded not in COMMON_WORDS
        and token.folded not in STRICT_WORDS
    )


def _e_service(tokens: list[_Token], match: _Match) -> bool:
    """True for "e-Albania", "e-Kosova", "e albania": online public services, not places.

    A name glued to a one-letter prefix is a brand; a country after a bare "e"
    is one too, unless the "e" links it to a cue ("komuna e Kosovës").
    """
    if match.start == 0:
        return False
    before, first = tokens[match.start - 1], tokens[match.start]
    if first.hyphenated and len(before.folded) == 1:
        return True
    return (
        match.place.kind == "country"
        and before.folded == "e"
        and not (match.start >= 2 and tokens[match.start - 2].folded in LOCATIVE_CUES)
    )


@dataclass(frozen=True)
class _Evidence:
    """What in a message says that a word is meant as a place."""

    capitalised: bool  # inside a sentence, or the whole message starting with a capital
    cue: bool  # right after a locative cue ("u", "nga", "vo", "from"...)
    whole: bool  # the name is the whole message ("Tirana", "nis")


def _plausible(match: _Match, tokens: list[_Token]) -> bool:
    """Whether a name found in a message is meant as a place there.

    The more a word looks like ordinary text, the more evidence it needs; see
    the ``_*_plausible`` rules. "Notable" is a municipality, a country or a
    town of ``NOTABLE_POPULATION``; "town" a place of ``TOWN_POPULATION``.
    """
    if _e_service(tokens, match):
        return False
    span = tokens[match.start : match.start + match.length]
    words = [token.folded for token in span]
    whole = match.length == len(tokens)
    evidence = _Evidence(
        capitalised=span[0].capitalised or (whole and span[0].text[:1].isupper()),
        cue=_cue_before(tokens, match.start),
        whole=whole,
    )
    if match.fuzzy:
        return _notable(match.place)
    if any(word in STRICT_WORDS for word in words):
        return _strict_plausible(match, evidence)
    if all(len(word) <= 3 and word not in COMMON_WORDS for word in words):
        return _short_plausible(match, evidence)
    if all(word in COMMON_WORDS or len(word) <= 3 for word in words):
        return _common_plausible(match, evidence)
    return _plain_plausible(match, evidence)


def _strict_plausible(match: _Match, evidence: _Evidence) -> bool:
    """``STRICT_WORDS`` ("centar", "bih"): capitalised, exact and notable."""
    return evidence.capitalised and match.exact and _notable(match.place)


def _short_plausible(match: _Match, evidence: _Evidence) -> bool:
    """Names of three letters or less ("Nis", "BG", "Tuz"): a town, with any evidence."""
    return _town(match.place) and (evidence.capitalised or evidence.cue or evidence.whole)


def _common_plausible(match: _Match, evidence: _Evidence) -> bool:
    """``COMMON_WORDS`` ("bar", "nisu"): a notable place, capitalised or after a cue.

    Alone as the whole message and capitalised ("Jajce"), a town is enough.
    """
    if evidence.whole:
        return evidence.capitalised and _town(match.place)
    if evidence.cue:
        return _notable(match.place)
    return evidence.capitalised and match.exact and _notable(match.place)


def _plain_plausible(match: _Match, evidence: _Evidence) -> bool:
    """Any other word: a town, or exact with evidence; lower case and bare, notable.

    A capitalised village name needs a cue too ("u Gjerbës"): capitalised
    words are also people's names ("David", an alternate name of Gjerbës).
    """
    if evidence.whole:
        return match.exact or _town(match.place)
    if evidence.capitalised:
        return _town(match.place) or (match.exact and evidence.cue)
    if evidence.cue:
        return _town(match.place)
    return match.exact and _notable(match.place)
