"""Giving a dose: reactions, held doses, home doses by trained patients, symptom scores, take-home stock.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 00:12:09

- administrations: reaction (none for every earlier dose), self_administered; the outcome gains 'held'
  (held for a clinical reason, beside refused and not given).
- patients: when and by whom a patient was trained to self-inject.
- symptom_scores: fatigue, tingling, balance, memory or mood, appetite, each 0 to 3, at a visit.
- stock_movements: the kind 'supplied_home', and the patient vials were supplied to (indexed: their history).
- indexes for the Administration tab's log, newest first: by time alone, and within a lot, a product, a
  nurse or an outcome, so a filtered page is read from an index rather than a scan of every dose.
- a plan's due events are read in date order from one index (plan, status, due date): with (plan,
  status) alone SQLite preferred walking every due event of the clinic in date order.
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import b12desk.data.types

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_OUTCOMES = ('given', 'refused', 'not_given')
NEW_OUTCOMES = ('given', 'refused', 'held', 'not_given')
OLD_MOVEMENT_KINDS = ('received', 'opened', 'dose_drawn', 'wasted', 'adjusted', 'returned', 'dose_returned')
NEW_MOVEMENT_KINDS = OLD_MOVEMENT_KINDS + ('supplied_home',)
SYMPTOMS = ('fatigue', 'tingling', 'balance', 'memory_mood', 'appetite')
LOG_INDEXES = {
    'ix_administrations_given': ['given_at', 'id'],
    'ix_administrations_lot_given': ['lot_id', 'given_at'],
    'ix_administrations_product_given': ['product_id', 'given_at'],
    'ix_administrations_staff_given': ['given_by_id', 'given_at'],
    'ix_administrations_outcome_given': ['outcome', 'given_at'],
}


def _enum(name: str, values: tuple[str, ...]) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=32)


def upgrade() -> None:
    op.create_table(
        'symptom_scores',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('patient_id', sa.Integer(), nullable=False),
        sa.Column('administration_id', sa.Integer(), nullable=True),
        sa.Column('scored_at', b12desk.data.types.UTCDateTime(), nullable=False),
        *(sa.Column(name, sa.SmallInteger(), nullable=True) for name in SYMPTOMS),
        sa.Column('recorded_by_id', sa.Integer(), nullable=False),
        *(
            sa.CheckConstraint(
                f'{name} IS NULL OR ({name} >= 0 AND {name} <= 3)', name=op.f(f'ck_symptom_scores_{name}_scale')
            )
            for name in SYMPTOMS
        ),
        sa.ForeignKeyConstraint(
            ['administration_id'], ['administrations.id'],
            name=op.f('fk_symptom_scores_administration_id_administrations'),
        ),
        sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_symptom_scores_patient_id_patients')),
        sa.ForeignKeyConstraint(['recorded_by_id'], ['staff.id'], name=op.f('fk_symptom_scores_recorded_by_id_staff')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_symptom_scores')),
    )
    with op.batch_alter_table('symptom_scores', schema=None) as batch_op:
        batch_op.create_index('ix_symptom_scores_patient_scored', ['patient_id', 'scored_at'], unique=False)

    with op.batch_alter_table('administrations', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('reaction', _enum('reaction', ('none', 'local', 'allergic')), nullable=False, server_default='none')
        )
        batch_op.add_column(sa.Column('self_administered', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.alter_column(
            'outcome',
            existing_type=_enum('administration_outcome', OLD_OUTCOMES),
            type_=_enum('administration_outcome', NEW_OUTCOMES),
            existing_nullable=False,
        )
    with op.batch_alter_table('administrations', schema=None) as batch_op:
        batch_op.alter_column('reaction', existing_type=sa.String(length=32), server_default=None)
        batch_op.alter_column('self_administered', existing_type=sa.Boolean(), server_default=None)
    for name, columns in LOG_INDEXES.items():
        op.create_index(name, 'administrations', columns, unique=False)
    op.drop_index('ix_scheduled_events_plan_status', table_name='scheduled_events')
    op.create_index(
        'ix_scheduled_events_plan_status_due', 'scheduled_events', ['plan_id', 'status', 'due_on'], unique=False
    )

    with op.batch_alter_table('patients', schema=None) as batch_op:
        batch_op.add_column(sa.Column('self_injection_trained_on', sa.Date(), nullable=True))
        batch_op.add_column(
            sa.Column('self_injection_trainer', sa.String(length=200), nullable=False, server_default='')
        )
    with op.batch_alter_table('patients', schema=None) as batch_op:
        batch_op.alter_column('self_injection_trainer', existing_type=sa.String(length=200), server_default=None)

    with op.batch_alter_table('stock_movements', schema=None) as batch_op:
        batch_op.add_column(sa.Column('patient_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f('fk_stock_movements_patient_id_patients'), 'patients', ['patient_id'], ['id']
        )
        batch_op.alter_column(
            'kind',
            existing_type=_enum('movement_kind', OLD_MOVEMENT_KINDS),
            type_=_enum('movement_kind', NEW_MOVEMENT_KINDS),
            existing_nullable=False,
        )
    op.create_index('ix_stock_movements_patient', 'stock_movements', ['patient_id'], unique=False)


def downgrade() -> None:
    conn = op.get_bind()
    for table, column, value in (
        ('stock_movements', 'kind', 'supplied_home'),
        ('administrations', 'outcome', 'held'),
    ):
        if conn.execute(sa.text(f"SELECT COUNT(*) FROM {table} WHERE {column} = '{value}'")).scalar():
            raise RuntimeError(f'{table} holds {column} {value!r}: revision 0003 cannot hold it')
    for name in LOG_INDEXES:
        op.drop_index(name, table_name='administrations')
    op.drop_index('ix_stock_movements_patient', table_name='stock_movements')
    op.drop_index('ix_scheduled_events_plan_status_due', table_name='scheduled_events')
    op.create_index('ix_scheduled_events_plan_status', 'scheduled_events', ['plan_id', 'status'], unique=False)
    with op.batch_alter_table('stock_movements', schema=None) as batch_op:
        batch_op.alter_column(
            'kind',
            existing_type=_enum('movement_kind', NEW_MOVEMENT_KINDS),
            type_=_enum('movement_kind', OLD_MOVEMENT_KINDS),
            existing_nullable=False,
        )
        batch_op.drop_constraint(batch_op.f('fk_stock_movements_patient_id_patients'), type_='foreignkey')
        batch_op.drop_column('patient_id')

    with op.batch_alter_table('patients', schema=None) as batch_op:
        batch_op.drop_column('self_injection_trainer')
        batch_op.drop_column('self_injection_trained_on')

    with op.batch_alter_table('administrations', schema=None) as batch_op:
        batch_op.alter_column(
            'outcome',
            existing_type=_enum('administration_outcome', NEW_OUTCOMES),
            type_=_enum('administration_outcome', OLD_OUTCOMES),
            existing_nullable=False,
        )
        batch_op.drop_constraint(batch_op.f('ck_administrations_reaction'), type_='check')
        batch_op.drop_column('self_administered')
        batch_op.drop_column('reaction')

    with op.batch_alter_table('symptom_scores', schema=None) as batch_op:
        batch_op.drop_index('ix_symptom_scores_patient_scored')

    op.drop_table('symptom_scores')
