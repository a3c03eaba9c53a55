"""Per-language NLU report from the output of ``rasa test nlu --successes``.

Rasa reports one model over all languages; the bar is per language, so every
held-out example is traced back to the file (language) it came from.
Usage: nlu_report.py RASA_OUT_DIR HOLDOUT_DIR REPORT_MD
"""

from __future__ import annotations

import json
import re
import sys
from collections import defaultdict
from pathlib import Path

import yaml

MIN_MACRO_F1 = 0.90
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


def main(rasa_out: Path, holdout: Path, report: Path) -> int:
    language_of = languages_by_text(holdout)
    by_language: dict[str, list[tuple[str, str]]] = defaultdict(list)
    errors: dict[str, list[str]] = defaultdict(list)
    for name in ("intent_successes.json", "intent_errors.json"):
        path = rasa_out / name
        for item in json.loads(path.read_text()) if path.exists() else []:
            truth, predicted = item["intent"], item["intent_prediction"]["name"]
            language = language_of.get((item["text"].strip(), truth), "unknown")
            by_language[language].append((truth, predicted))
            if truth != predicted:
                errors[language].append(f"{truth} -> {predicted}: {item['text']}")
    lines = ["# NLU evaluation on the held-out set", "",
             f"Bar: macro-F1 >= {MIN_MACRO_F1} per language; recall 1.0 for {', '.join(MUST_RECALL)}.", "",
             "| language | examples | macro-F1 | " + " | ".join(f"recall {i}" for i in MUST_RECALL) + " | bar |",
             "|---|---|---|" + "---|" * len(MUST_RECALL) + "---|"]
    passed = True
    for language in sorted(by_language):
        macro, per_intent = scores(by_language[language])
        recalls = [per_intent.get(i, {}).get("recall", 0.0) for i in MUST_RECALL]
        ok = macro >= MIN_MACRO_F1 and all(r == 1.0 for r in recalls)
        passed &= ok
        lines.append(f"| {language} | {len(by_language[language])} | {macro:.3f} | "
                     + " | ".join(f"{r:.3f}" for r in recalls) + f" | {'pass' if ok else 'FAIL'} |")
    for language in sorted(errors):
        lines += ["", f"## Misclassified ({language})", ""] + [f"- {e}" for e in errors[language]]
    report.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines[: 6 + len(by_language)]))
    print(f"\nFull report: {report}")
    return 0 if passed and by_language else 1


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])))
