#!/usr/bin/env bash
# Everything `make test` checks, in order; the model is trained once before (by make).
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD"
mkdir -p reports

echo "== rasa data validate"
.venv-rasa/bin/rasa data validate --config config.yml --domain domain.yml --data nlu_data \
  >reports/validate.log 2>&1 || { cat reports/validate.log; exit 1; }
# Responses that only custom actions render are reported as unused by Rasa;
# tests/test_domain.py checks that every response is used by a rule, a story or an action.
if grep -E "UserWarning|WARNING|ERROR" reports/validate.log | grep -v "is not used in any story or rule"; then
  echo "rasa data validate is not clean"; exit 1
fi

echo "== rasa test stories (every rule and story path)"
bash scripts/test_stories.sh

echo "== NLU evaluation on the held-out set"
bash scripts/evaluate.sh

echo "== pytest"
.venv/bin/python -m pytest -q -rs -p no:cacheprovider
