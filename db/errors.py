"""Errors the persistence layer raises to its callers."""

from __future__ import annotations


class DatabaseUnavailable(Exception):
    """The database cannot be reached or opened. str() is one line: masked URL and reason."""

    def __init__(self, masked_url: str, reason: str) -> None:
        self.masked_url = masked_url
        self.reason = " ".join(reason.split()) or "unknown error"
        super().__init__(f"database unavailable at {masked_url}: {self.reason}")


class DuplicateDetection(Exception):
    """This chat message already has a detection row; `existing_id` is that row's id when known."""

    def __init__(self, chat_id: int, message_id: int, existing_id: int | None = None) -> None:
        self.chat_id = chat_id
        self.message_id = message_id
        self.existing_id = existing_id
        super().__init__(f"chat {chat_id} message {message_id} already has a detection")


class Forgotten(Exception):
    """The person deleted their data (/forget) after this work began; nothing was stored."""

    def __init__(self, user_id: int) -> None:
        self.user_id = user_id
        super().__init__(f"user {user_id} asked to be forgotten meanwhile")
