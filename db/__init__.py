"""Persistence: SQLAlchemy models, engine/session, repository, Alembic migrations."""
