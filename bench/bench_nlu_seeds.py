"""Spread of the held-out NLU figures across training seeds, to set floors CI can trust.

A trained model differs from machine to machine even with fixed seeds, so CI
gates only on floors (``scripts/nlu_report.py``) that every seed here clears
with room. This trains the NLU part of the model once per seed (DIET's
``random_seed`` in a copy of config.yml), evaluates each on tests/nlu_holdout,
and prints per-language macro-F1 and the recall of danger and self-harm with
their minimum and maximum. About 10 minutes per seed on 2 cores.

Run: PYTHONPATH=. .venv/bin/python bench/bench_nlu_seeds.py [SEED ...]   (default: 7 8 9)
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from bot.settings import PROJECT_ROOT
from scripts.nlu_report import MUST_RECALL, figures, predictions

RASA = PROJECT_ROOT / ".venv-rasa" / "bin" / "rasa"


def config_with_seed(seed: int, folder: Path) -> Path:
    config = yaml.safe_load((PROJECT_ROOT / "config.yml").read_text(encoding="utf-8"))
    for component in config["pipeline"]:
        if component["name"] == "DIETClassifier":
            component["random_seed"] = seed
    path = folder / f"config-{seed}.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def train_and_evaluate(seed: int, folder: Path) -> dict[str, dict[str, float]]:
    env = dict(os.environ, PYTHONPATH=str(PROJECT_ROOT), RASA_TELEMETRY_ENABLED="false",
               PYTHONHASHSEED="0", TF_DETERMINISTIC_OPS="1")
    model = folder / f"nlu-{seed}.tar.gz"
    run = {"cwd": PROJECT_ROOT, "env": env, "check": True, "stdout": subprocess.DEVNULL,
           "stderr": subprocess.DEVNULL}
    subprocess.run([str(RASA), "train", "nlu", "--config", str(config_with_seed(seed, folder)),
                    "--nlu", "nlu_data/nlu", "--out", str(folder),
                    "--fixed-model-name", model.name.removesuffix(".tar.gz")], **run)
    out = folder / f"eval-{seed}"
    subprocess.run([str(RASA), "test", "nlu", "--nlu", "tests/nlu_holdout", "--model", str(model),
                    "--out", str(out), "--successes", "--no-plot"], **run)
    return figures(predictions(out, PROJECT_ROOT / "tests" / "nlu_holdout"))


def main(seeds: list[int]) -> None:
    results: dict[int, dict[str, dict[str, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in seeds:
            results[seed] = train_and_evaluate(seed, Path(tmp))
            print(f"seed {seed} done", flush=True)
    columns = ["macro_f1", *(f"recall_{intent}" for intent in MUST_RECALL)]
    print("\n| language | " + " | ".join(f"{c} (min-max)" for c in columns) + " |")
    print("|---|" + "---|" * len(columns))
    for language in sorted(next(iter(results.values()))):
        cells = []
        for column in columns:
            values = [results[seed][language][column] for seed in seeds]
            cells.append(f"{min(values):.3f}-{max(values):.3f}")
        print(f"| {language} | " + " | ".join(cells) + " |")
    for seed in seeds:
        print(f"seed {seed}: " + ", ".join(
            f"{lang} {r['macro_f1']:.3f}" for lang, r in sorted(results[seed].items())))


if __name__ == "__main__":
    main([int(seed) for seed in sys.argv[1:]] or [7, 8, 9])
