"""The helpline application: settings, web app, assistant client, directory.

Kept import-free so that ``bot.text`` can be imported from the Rasa environment
(Python 3.10, Rasa's pinned libraries) as well as from the application's.
"""
