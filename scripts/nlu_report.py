"""Per-language NLU report from the output of ``rasa test nlu --successes``.

Rasa reports one model over all languages; the figures are per language, so
every held-out example is traced back to the file (language) it came from.

The figures of one training run differ from machine to machine, so CI fails
only below floors that every seed of ``bench/bench_nlu_seeds.py`` clears with
room (the spread is in docs/nlu-data.md). What must always hold (danger and
self-harm caught) is the safety lexicon's job, tested without the model
(tests/test_safety_lexicon.py).
Usage: nlu_report.py RASA_OUT_DIR HOLDOUT_DIR REPORT_MD
"""

from __future__ import annotations

import json
import re
import sys
from collections import defaultdict
from pathlib import Path

import yaml

# Floors, per language: below these a change broke the model, not the seed.
MIN_MACRO_F1 = 0.85
MIN_SAFETY_RECALL = 0.90
MUST_RECALL = ("immediate_danger", "self_harm")
_ANNOTATION = re.compile(r"\[([^\]]+)\](?:\([^)]*\)|\{[^}]*\})")


def plain(example: str) -> str:
    return _ANNOTATION.sub(r"\1", example).strip()


def languages_by_text(holdout: Path) -> dict[tuple[str, str], str]:
    found = {}
    for path in sorted(holdout.glob("*.yml")):
        for block in yaml.safe_load(path.read_text(encoding="utf-8"))["nlu"]:
            for line in block.get("examples", "").splitlines():
                if line.strip().startswith("- "):
                    found[(plain(line.strip()[2:]), block["intent"])] = path.stem
    return found


def scores(pairs: list[tuple[str, str]]) -> tuple[float, dict[str, dict[str, float]]]:
    """Macro-F1 over the true intents, and precision/recall/F1 per intent."""
    per_intent = {}
    for intent in sorted({truth for truth, _ in pairs}):
        tp = sum(1 for t, p in pairs if t == intent and p == intent)
        fp = sum(1 for t, p in pairs if t != intent and p == intent)
        fn = sum(1 for t, p in pairs if t == intent and p != intent)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_intent[intent] = {"precision": precision, "recall": recall, "f1": f1, "n": tp + fn}
    macro = sum(s["f1"] for s in per_intent.values()) / len(per_intent)
    return macro, per_intent


def predictions(rasa_out: Path, holdout: Path) -> dict[str, list[tuple[str, str, str]]]:
    """(truth, predicted, text) of every held-out example, per language."""
    language_of = languages_by_text(holdout)
    by_language: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
    for name in ("intent_successes.json", "intent_errors.json"):
        path = rasa_out / name
        for item in json.loads(path.read_text()) if path.exists() else []:
            truth, predicted = item["intent"], item["intent_prediction"]["name"]
            language = language_of.get((item["text"].strip(), truth), "unknown")
            by_language[language].append((truth, predicted, item["text"]))
    return by_language


def figures(by_language: dict[str, list[tuple[str, str, str]]]) -> dict[str, dict[str, float]]:
    """Per language: examples, macro-F1 and the recall of each must-recall intent."""
    result = {}
    for language, items in by_language.items():
        macro, per_intent = scores([(truth, predicted) for truth, predicted, _ in items])
        result[language] = {"examples": len(items), "macro_f1": macro} | {
            f"recall_{i}": per_intent.get(i, {}).get("recall", 0.0) for i in MUST_RECALL
        }
    return result


def main(rasa_out: Path, holdout: Path, report: Path) -> int:
    by_language = predictions(rasa_out, holdout)
    found = figures(by_language)
    lines = ["# NLU evaluation on the held-out set", "",
             f"Floors: macro-F1 >= {MIN_MACRO_F1} per language; recall >= {MIN_SAFETY_RECALL} "
             f"for {', '.join(MUST_RECALL)} (the lexicon, tested without the model, catches them).", "",
             "| language | examples | macro-F1 | " + " | ".join(f"recall {i}" for i in MUST_RECALL) + " | floors |",
             "|---|---|---|" + "---|" * len(MUST_RECALL) + "---|"]
    passed = bool(found)
    for language in sorted(found):
        row = found[language]
        recalls = [row[f"recall_{i}"] for i in MUST_RECALL]
        ok = row["macro_f1"] >= MIN_MACRO_F1 and all(r >= MIN_SAFETY_RECALL for r in recalls)
        passed &= ok
        lines.append(f"| {language} | {row['examples']:.0f} | {row['macro_f1']:.3f} | "
                     + " | ".join(f"{r:.3f}" for r in recalls) + f" | {'pass' if ok else 'FAIL'} |")
    for language, items in sorted(by_language.items()):
        errors = [f"- {t} -> {p}: {text}" for t, p, text in items if t != p]
        if errors:
            lines += ["", f"## Misclassified ({language})", "", *errors]
    report.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines[: 6 + len(found)]))
    print(f"\nFull report: {report}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])))
