"""Persistence: the database engine and sessions, the ORM models, the outbox of chat work."""
