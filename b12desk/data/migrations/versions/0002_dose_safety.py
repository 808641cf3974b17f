"""Dose safety: the plan's verified strength, structured preservatives, dose acknowledgements, corrections.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 22:14:46

- treatment_plans: strength_mcg_per_ml (filled from the formulary: the one strength stocked for the
  plan's formulation, else the standard 1,000 mcg/mL), continues_elsewhere, review_reason.
- products: preservatives, the structured twin of the label text (benzyl alcohol, parabens), NULL where
  the text does not say (a pharmacist confirms it).
- administrations: who corrected a record and when; dose_acknowledgements: warnings acknowledged.
- stock_movements.kind gains dose_returned (a dose entered in error gives its stock back).
- Indexes for a plan's doses, a plan's events and a lot's open vials.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal

import sqlalchemy as sa
from alembic import op


revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_MOVEMENT_KINDS = ('received', 'opened', 'dose_drawn', 'wasted', 'adjusted', 'returned')
NEW_MOVEMENT_KINDS = OLD_MOVEMENT_KINDS + ('dose_returned',)


def _movement_kind(values: tuple[str, ...]) -> sa.Enum:
    return sa.Enum(*values, name='movement_kind', native_enum=False, create_constraint=True, length=32)


def _preservative_codes(text: str) -> str | None:
    """The label's preservative text as codes; None when it says nothing certain."""
    words = (text or '').lower()
    if not words.strip() or 'unverified' in words:
        return None
    codes = []
    for needle, code in (
        ('benzyl alcohol', 'benzyl_alcohol'),
        ('methylparaben', 'methylparaben'),
        ('methyl paraben', 'methylparaben'),
        ('propylparaben', 'propylparaben'),
        ('propyl paraben', 'propylparaben'),
        ('chlorobutanol', 'chlorobutanol'),
        ('phenol', 'phenol'),
    ):
        if needle in words and code not in codes:
            codes.append(code)
    if codes:
        return ','.join(sorted(codes))
    if words.strip() in ('none', 'preservative-free', 'preservative free', 'no preservative'):
        return ''
    return None


def upgrade() -> None:
    op.create_table('dose_acknowledgements',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('administration_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('staff_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['administration_id'], ['administrations.id'], name=op.f('fk_dose_acknowledgements_administration_id_administrations')),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], name=op.f('fk_dose_acknowledgements_staff_id_staff')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dose_acknowledgements'))
    )
    with op.batch_alter_table('dose_acknowledgements', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dose_acknowledgements_administration_id'), ['administration_id'], unique=False)

    with op.batch_alter_table('administrations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('corrected_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('corrected_at', sa.DateTime(), nullable=True))
        batch_op.create_index('ix_administrations_plan_given', ['plan_id', 'given_at'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_administrations_corrected_by_id_staff'), 'staff', ['corrected_by_id'], ['id'])

    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.add_column(sa.Column('preservatives', sa.String(length=200), nullable=True))

    with op.batch_alter_table('scheduled_events', schema=None) as batch_op:
        batch_op.create_index('ix_scheduled_events_plan_status', ['plan_id', 'status'], unique=False)

    with op.batch_alter_table('vials', schema=None) as batch_op:
        batch_op.create_index('ix_vials_lot_status', ['lot_id', 'status'], unique=False)

    with op.batch_alter_table('treatment_plans', schema=None) as batch_op:
        batch_op.add_column(sa.Column('strength_mcg_per_ml', sa.Numeric(precision=12, scale=3), nullable=True))
        batch_op.add_column(sa.Column('continues_elsewhere', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('review_reason', sa.Text(), nullable=False, server_default=''))

    conn = op.get_bind()
    products = sa.table(
        'products',
        sa.column('id', sa.Integer()),
        sa.column('formulation', sa.String()),
        sa.column('strength_mcg_per_ml', sa.Numeric(12, 3)),
        sa.column('preservative', sa.String()),
        sa.column('preservatives', sa.String()),
        sa.column('active', sa.Boolean()),
        sa.column('for_deficiency', sa.Boolean()),
    )
    for pid, text in conn.execute(sa.select(products.c.id, products.c.preservative)).all():
        conn.execute(
            products.update().where(products.c.id == pid).values(preservatives=_preservative_codes(text))
        )
    strengths: dict[str, set[Decimal]] = {}
    for formulation, strength in conn.execute(
        sa.select(products.c.formulation, products.c.strength_mcg_per_ml)
        .where(products.c.active == sa.true(), products.c.for_deficiency == sa.true())
    ).all():
        strengths.setdefault(formulation, set()).add(Decimal(strength).normalize())
    plans = sa.table(
        'treatment_plans',
        sa.column('id', sa.Integer()),
        sa.column('formulation', sa.String()),
        sa.column('strength_mcg_per_ml', sa.Numeric(12, 3)),
        sa.column('verified_snapshot', sa.Text()),
    )
    for formulation in conn.execute(sa.select(plans.c.formulation).distinct()).scalars().all():
        stocked = strengths.get(formulation, set())
        strength = stocked.pop() if len(stocked) == 1 else Decimal(1000)
        conn.execute(
            plans.update().where(plans.c.formulation == formulation).values(strength_mcg_per_ml=strength)
        )
        text = format(strength.normalize(), 'f')
        for plan_id, snapshot in conn.execute(
            sa.select(plans.c.id, plans.c.verified_snapshot)
            .where(plans.c.formulation == formulation, plans.c.verified_snapshot != '')
        ).all():
            values = json.loads(snapshot)
            values['strength_mcg_per_ml'] = text
            canonical = json.dumps(values, sort_keys=True, separators=(',', ':'))
            conn.execute(plans.update().where(plans.c.id == plan_id).values(verified_snapshot=canonical))

    with op.batch_alter_table('treatment_plans', schema=None) as batch_op:
        batch_op.alter_column('strength_mcg_per_ml', existing_type=sa.Numeric(12, 3), nullable=False)
        batch_op.alter_column('continues_elsewhere', existing_type=sa.Boolean(), server_default=None)
        batch_op.alter_column('review_reason', existing_type=sa.Text(), server_default=None)
        batch_op.create_check_constraint(op.f('ck_treatment_plans_strength_positive'), 'strength_mcg_per_ml > 0')

    with op.batch_alter_table('stock_movements', schema=None) as batch_op:
        batch_op.alter_column(
            'kind',
            existing_type=_movement_kind(OLD_MOVEMENT_KINDS),
            type_=_movement_kind(NEW_MOVEMENT_KINDS),
            existing_nullable=False,
        )


def downgrade() -> None:
    conn = op.get_bind()
    if conn.execute(sa.text("SELECT COUNT(*) FROM stock_movements WHERE kind = 'dose_returned'")).scalar():
        raise RuntimeError('stock movements of kind dose_returned exist: revision 0001 cannot hold them')
    with op.batch_alter_table('stock_movements', schema=None) as batch_op:
        batch_op.alter_column(
            'kind',
            existing_type=_movement_kind(NEW_MOVEMENT_KINDS),
            type_=_movement_kind(OLD_MOVEMENT_KINDS),
            existing_nullable=False,
        )

    with op.batch_alter_table('vials', schema=None) as batch_op:
        batch_op.drop_index('ix_vials_lot_status')

    with op.batch_alter_table('treatment_plans', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_treatment_plans_strength_positive'), type_='check')
        batch_op.drop_column('review_reason')
        batch_op.drop_column('continues_elsewhere')
        batch_op.drop_column('strength_mcg_per_ml')

    with op.batch_alter_table('scheduled_events', schema=None) as batch_op:
        batch_op.drop_index('ix_scheduled_events_plan_status')

    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.drop_column('preservatives')

    with op.batch_alter_table('administrations', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_administrations_corrected_by_id_staff'), type_='foreignkey')
        batch_op.drop_index('ix_administrations_plan_given')
        batch_op.drop_column('corrected_at')
        batch_op.drop_column('corrected_by_id')

    with op.batch_alter_table('dose_acknowledgements', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dose_acknowledgements_administration_id'))

    op.drop_table('dose_acknowledgements')
