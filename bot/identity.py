"""Who is asking: the key a message's sender is counted and looked up under.

Anonymous group admins (GroupAnonymousBot), posts made as a channel and automatic forwards from a
linked channel all arrive with one shared user id. Counting them under that id would give every
anonymous admin of every group one rate limit and one history; they are keyed by the chat they
speak for (`sender_chat`) instead, and their history is kept to the chat they asked in.
"""

from __future__ import annotations

from dataclasses import dataclass

from telegram import Message

ANONYMOUS_ADMIN_ID = 1087968824
CHANNEL_POST_ID = 136817688
LINKED_CHANNEL_ID = 777000
SHARED_USER_IDS = frozenset({ANONYMOUS_ADMIN_ID, CHANNEL_POST_ID, LINKED_CHANNEL_ID})


@dataclass(frozen=True)
class Requester:
    """`key`: what limits count under (a user id, or for a shared account the negative id of
    the chat it speaks for); `user_id`: the `users` row; `history_chat_id`: the one chat whose
    detections are theirs, or None for a person (their detections in every chat)."""

    key: int
    user_id: int
    history_chat_id: int | None

    @property
    def is_shared_account(self) -> bool:
        return self.history_chat_id is not None


def requester_of(message: Message) -> Requester | None:
    """The requester of `message`; None for a message without a sender (a channel's own post)."""
    user = message.from_user
    if user is None:
        return None
    if user.id not in SHARED_USER_IDS and message.sender_chat is None:
        return Requester(key=user.id, user_id=user.id, history_chat_id=None)
    speaks_for = message.sender_chat.id if message.sender_chat is not None else message.chat_id
    return Requester(key=speaks_for, user_id=user.id, history_chat_id=message.chat_id)
