"""Alembic migration environment for the b12desk schema."""
