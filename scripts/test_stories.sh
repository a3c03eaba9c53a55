#!/usr/bin/env bash
# Rasa test stories (tests/stories) against the trained model, with the real action server.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD" SANIC_HOST=127.0.0.1
port=$(.venv/bin/python -c "from tests.stack import free_port; print(free_port())")
mkdir -p reports/stories
ACTION_SERVER_URL="http://127.0.0.1:$port/webhook" .venv/bin/python -m bot.cli endpoints reports/stories/endpoints.yml
.venv/bin/python -m rasa_sdk --actions actions --port "$port" >reports/stories/actions.log 2>&1 &
actions=$!
trap 'kill $actions 2>/dev/null || true' EXIT
.venv-rasa/bin/rasa test core --stories tests/stories --model models/helpline.tar.gz \
  --endpoints reports/stories/endpoints.yml --out reports/stories --fail-on-prediction-errors \
  >reports/stories/test.log 2>&1 || { tail -40 reports/stories/test.log; cat reports/stories/failed_test_stories.yml 2>/dev/null; exit 1; }
grep -E "Correct:|Accuracy|F1-Score" reports/stories/test.log | head -8 || true
