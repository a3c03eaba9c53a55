"""Custom Rasa pipeline components. They run inside Rasa (``.venv-rasa``, Python 3.10)."""
