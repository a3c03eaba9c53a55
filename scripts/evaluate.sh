#!/usr/bin/env bash
# NLU evaluation on the held-out examples (never used in training): per-language
# macro-F1 and the recall of immediate_danger and self_harm, written to
# reports/nlu-evaluation.md and printed. Exits 1 when below the bar.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD"
rm -rf reports/nlu && mkdir -p reports
.venv-rasa/bin/rasa test nlu --nlu tests/nlu_holdout --model models/helpline.tar.gz \
  --out reports/nlu --successes --no-plot >reports/nlu-test.log 2>&1 \
  || { tail -30 reports/nlu-test.log; exit 1; }
.venv/bin/python scripts/nlu_report.py reports/nlu tests/nlu_holdout reports/nlu-evaluation.md
