"""Fixture plugins shared by the whole suite (model and stand-ins, databases, Bot API)."""

pytest_plugins = [
    "tests.support.model_fixtures",
    "tests.support.db_fixtures",
    "tests.support.bot_fixtures",
]
