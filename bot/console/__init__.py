"""The counsellors' web console (``make_router`` in ``bot.console.router``)."""
