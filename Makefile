# The helpline's two commands: `make run` and `make test`. Each does all the
# set-up it needs; re-running when nothing changed takes seconds.

SHELL := /bin/bash
RASA := .venv-rasa/bin/rasa
APP_PYTHON := .venv/bin/python
MODEL := models/helpline.tar.gz
# What shapes a trained model. The safety net and the language choice are not
# trained: Rasa builds them (and reads the lexicon) each time a model is loaded.
TRAINING_INPUTS := config.yml domain.yml $(shell find nlu_data -name '*.yml' | sort) \
	rasa_components/folding_tokenizer.py bot/text.py
export PYTHONPATH := $(CURDIR)
# Rasa 3.6 pins SQLAlchemy 1.4, which prints a 2.0-migration notice at import.
export SQLALCHEMY_SILENCE_UBER_WARNING := 1
# No Rasa command of the project sends telemetry (train, test, evaluate, run).
export RASA_TELEMETRY_ENABLED := false

.PHONY: run test eval validate train setup

run: setup $(MODEL)  ## train when needed, then start Rasa, the action server and the app
	$(APP_PYTHON) -m bot.cli run

test: setup $(MODEL)  ## everything CI checks
	bash scripts/install-browser.sh
	bash scripts/test.sh

eval: setup $(MODEL)  ## NLU evaluation on the held-out set -> reports/nlu-evaluation.md
	bash scripts/evaluate.sh

train: $(MODEL)

setup: .venv-rasa/.installed .venv/.installed

.venv-rasa/.installed: requirements/rasa.lock
	rm -rf .venv-rasa && "$$(bash scripts/find-python.sh 3.10)" -m venv .venv-rasa
	.venv-rasa/bin/pip install --quiet --upgrade pip
	.venv-rasa/bin/pip install --quiet --no-deps -r requirements/rasa.lock
	touch $@

.venv/.installed: requirements/app.lock pyproject.toml
	rm -rf .venv && "$$(bash scripts/find-python.sh 3.11)" -m venv .venv
	.venv/bin/pip install --quiet --upgrade pip setuptools wheel
	.venv/bin/pip install --quiet --no-deps -r requirements/app.lock
	.venv/bin/pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

$(MODEL): .venv-rasa/.installed $(TRAINING_INPUTS)
	# As reproducible as TensorFlow allows (seeds are in config.yml); it still differs by machine.
	PYTHONHASHSEED=0 TF_DETERMINISTIC_OPS=1 $(RASA) train --force --config config.yml --domain domain.yml --data nlu_data \
		--out models --fixed-model-name helpline
	touch $@
