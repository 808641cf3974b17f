"""Monitoring tasks are closed by a person: done with its lab result or review note, missed with a reason.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 01:50:00

- scheduled_events: closed_at, closed_by_id (staff), close_note (the review's finding, or why a task was
  missed), lab_result_id (the result that completed a laboratory task). Events closed before this
  revision keep NULLs and an empty note: who closed them was not recorded.
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import b12desk.data.types

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('scheduled_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('closed_at', b12desk.data.types.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('closed_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('close_note', sa.Text(), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('lab_result_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f('fk_scheduled_events_closed_by_id_staff'), 'staff', ['closed_by_id'], ['id']
        )
        batch_op.create_foreign_key(
            batch_op.f('fk_scheduled_events_lab_result_id_lab_results'), 'lab_results', ['lab_result_id'], ['id']
        )
    op.create_index(
        'ix_scheduled_events_phase_status_kind_due',
        'scheduled_events',
        ['phase_id', 'status', 'kind', 'due_on'],
        unique=False,
    )
    op.create_index(
        'ix_lab_results_patient_test_taken', 'lab_results', ['patient_id', 'test_code', 'taken_on'], unique=False
    )


def downgrade() -> None:
    op.drop_index('ix_lab_results_patient_test_taken', table_name='lab_results')
    op.drop_index('ix_scheduled_events_phase_status_kind_due', table_name='scheduled_events')
    with op.batch_alter_table('scheduled_events', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_scheduled_events_lab_result_id_lab_results'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_scheduled_events_closed_by_id_staff'), type_='foreignkey')
        batch_op.drop_column('lab_result_id')
        batch_op.drop_column('close_note')
        batch_op.drop_column('closed_by_id')
        batch_op.drop_column('closed_at')
