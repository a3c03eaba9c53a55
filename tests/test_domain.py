"""The domain and the training data keep their contracts."""

from __future__ import annotations

import re

import pytest
import yaml

from bot.responses import days_text
from bot.settings import LANGUAGES, PROJECT_ROOT
from tests.helpers import domain

CONTRACT_INTENTS = (
    "greet goodbye affirm deny thank bot_challenge out_of_scope choose_language inform_location "
    "request_human immediate_danger self_harm seek_legal_aid seek_psychosocial_support seek_shelter "
    "seek_medical_help seek_egov_service seek_economic_support report_online_violence "
    "ask_emergency_numbers ask_privacy delete_my_data learn_about_violence"
).split()
PLACEHOLDER = re.compile(r"\{(\w+)\}")


def test_intents_are_the_contract():
    assert domain()["intents"] == CONTRACT_INTENTS
    assert domain()["entities"] == ["language", "location", "service_category"]


@pytest.mark.parametrize("name", sorted(domain()["responses"]))
def test_every_response_exists_in_every_language(name):
    variations = domain()["responses"][name]
    languages = [v["condition"][0]["value"] for v in variations]
    assert sorted(languages) == sorted(LANGUAGES), f"{name}: {languages}"
    texts = {v["condition"][0]["value"]: v["text"] for v in variations}
    assert all(t.strip() and t != "TODO" for t in texts.values()), name
    placeholders = {lang: sorted(PLACEHOLDER.findall(t)) for lang, t in texts.items()}
    assert len({tuple(p) for p in placeholders.values()}) == 1, f"{name}: {placeholders}"
    buttons = {v["condition"][0]["value"]: [b["payload"] for b in v.get("buttons", [])] for v in variations}
    assert len({tuple(b) for b in buttons.values()}) == 1, f"{name}: buttons differ"


def _examples(path):
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return {
        block["intent"]: [l.strip()[2:] for l in block["examples"].splitlines() if l.strip().startswith("- ")]
        for block in data["nlu"]
        if "intent" in block
    }


@pytest.mark.parametrize("language", LANGUAGES)
def test_training_data_covers_every_intent(language):
    training = _examples(PROJECT_ROOT / "nlu_data" / "nlu" / f"{language}.yml")
    holdout = _examples(PROJECT_ROOT / "tests" / "nlu_holdout" / f"{language}.yml")
    assert sorted(training) == sorted(CONTRACT_INTENTS)
    assert sorted(holdout) == sorted(CONTRACT_INTENTS)
    for intent in CONTRACT_INTENTS:
        assert len(training[intent]) >= 25, (intent, len(training[intent]))
    for intent in ("immediate_danger", "self_harm"):
        assert len(training[intent]) >= 60, intent


def test_holdout_is_never_trained_on():
    trained = set()
    for path in (PROJECT_ROOT / "nlu_data" / "nlu").glob("*.yml"):
        trained |= {e.casefold() for examples in _examples(path).values() for e in examples}
    for path in (PROJECT_ROOT / "tests" / "nlu_holdout").glob("*.yml"):
        held_out = {e.casefold() for examples in _examples(path).values() for e in examples}
        assert not held_out & trained, (path.name, sorted(held_out & trained)[:5])


def test_every_response_is_used_by_a_rule_a_story_or_an_action():
    sources = [p.read_text(encoding="utf-8") for p in (PROJECT_ROOT / "nlu_data").glob("*.yml")]
    sources += [p.read_text(encoding="utf-8") for p in (PROJECT_ROOT / "actions").glob("*.py")]
    # The app's own texts: its fallback (bot/safety_fallback.py, bot/conversations.py) and the
    # gateway's (bot/gateway: the reply to a voice message or photo, the welcome some platforms want),
    # the handoff's (bot/handoff: consent, the queue, who joined, the closing; canned replies).
    for package in ("bot", "bot/gateway", "bot/handoff"):
        sources += [p.read_text(encoding="utf-8") for p in (PROJECT_ROOT / package).glob("*.py")]
    categories = domain()["slots"]["service_category"]["values"]
    sources += [f"utter_ack_{category}" for category in categories]  # actions/support.py
    for form in domain()["forms"].values():  # a form asks for each slot with utter_ask_<slot>
        sources += [f"utter_ask_{slot}" for slot in form["required_slots"]]
    used = "\n".join(sources)
    unused = [name for name in domain()["responses"] if not re.search(rf"\b{name}\b", used)]
    assert unused == []


def test_the_intents_that_interrupt_the_form_are_the_rules_that_answer_them():
    """actions.common.FORM_INTERRUPTIONS must name exactly the intents nlu_data/rules.yml answers in the form."""
    from actions.common import FORM_INTERRUPTIONS

    rules = yaml.safe_load((PROJECT_ROOT / "nlu_data" / "rules.yml").read_text(encoding="utf-8"))["rules"]
    in_form = set()
    for rule in rules:
        conditions = rule.get("condition") or []
        if {"active_loop": "service_search_form"} not in conditions:
            continue
        in_form |= {step["intent"] for step in rule["steps"] if "intent" in step}
    # deny answers the form itself ("I would rather not say"); a place is the form's answer.
    assert in_form - {"deny", "inform_location"} == set(FORM_INTERRUPTIONS)


@pytest.mark.parametrize(("language", "counts"), [
    ("en", {1: "1 day", 2: "2 days", 30: "30 days"}),
    ("sq", {1: "1 ditë", 30: "30 ditë"}),
    ("sr", {1: "1 dan", 3: "3 dana", 21: "21 dan", 30: "30 dana"}),
    ("mk", {1: "1 ден", 11: "11 дена", 21: "21 ден", 30: "30 дена"}),
])
def test_days_are_counted_in_each_language_s_plural(language, counts):
    responses = domain()["responses"]
    assert {count: days_text(responses, language, count) for count in counts} == counts
