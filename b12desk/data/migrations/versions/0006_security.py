"""Sign-in lockout on staff accounts, keyed audit events, and an append-only audit table on PostgreSQL.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 04:30:00

- staff: failed_sign_ins (wrong passwords since the last success), locked_until (UTC; NULL when not
  locked) and lockouts (lockouts since the last success, which lengthen the next one).
- audit_events: key_id, the fingerprint of the key whose HMAC signs the event. Events written before this
  revision keep NULL: they are checked with the plain SHA-256 chain they were written with, and may only
  come before the first keyed event.
- PostgreSQL: a trigger refuses UPDATE, DELETE and TRUNCATE on audit_events, whoever asks; the README
  shows the grants that keep the application's role from dropping it.
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import b12desk.data.types

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PG_FUNCTION = """
CREATE OR REPLACE FUNCTION b12desk_audit_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Audit events are never changed or removed; a correction is a new event.';
END
$$
"""


def upgrade() -> None:
    with op.batch_alter_table('staff', schema=None) as batch_op:
        batch_op.add_column(sa.Column('failed_sign_ins', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('locked_until', b12desk.data.types.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('lockouts', sa.Integer(), nullable=False, server_default='0'))
    op.add_column('audit_events', sa.Column('key_id', sa.String(length=16), nullable=True))
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(_PG_FUNCTION)
        op.execute(
            'CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events '
            'FOR EACH ROW EXECUTE FUNCTION b12desk_audit_append_only()'
        )
        op.execute(
            'CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events '
            'FOR EACH STATEMENT EXECUTE FUNCTION b12desk_audit_append_only()'
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('DROP TRIGGER IF EXISTS audit_events_no_truncate ON audit_events')
        op.execute('DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events')
        op.execute('DROP FUNCTION IF EXISTS b12desk_audit_append_only()')
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_column('key_id')
    with op.batch_alter_table('staff', schema=None) as batch_op:
        batch_op.drop_column('lockouts')
        batch_op.drop_column('locked_until')
        batch_op.drop_column('failed_sign_ins')
