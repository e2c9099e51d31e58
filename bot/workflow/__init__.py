"""The photo workflow: what happens to a photo between the worker and the reply.

A photo (or an album) is checked against `triggers.should_answer`, admitted by the per-person
limits, downloaded and detected in a detection slot, recorded, and answered; the reply is marked
as being sent and as sent, so a takeover never answers it twice. Handlers only call in here.
"""
