"""Clinical content: what is treated, a cobalt-allergy caution, vial-level codes, oral plans' supply.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 23:47:01

- patients: presentation (deficiency with or without anaemia, or prevention: with the cause it chooses
  the template suggested; 'not_recorded' for the patients already on the roster), flag_cobalt_allergy.
- products: unit_gtin and unit_ndc, the vial's or ampoule's own codes beside the pack's.
- treatment_plans: supplied_as, what an oral plan's patient was supplied.
- The seed formulary's Gland Pharma 10 mL pack had a GTIN derived from its NDC; the FDA NDC directory
  lists its UPC 0368083449254. A product still holding the derived code gets the listed one.
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PRESENTATIONS = ('not_recorded', 'deficiency_with_anaemia', 'deficiency_without_anaemia', 'prevention')
GLAND_DERIVED, GLAND_LISTED = '00368083561253', '00368083449254'


def upgrade() -> None:
    with op.batch_alter_table('patients', schema=None) as batch_op:
        batch_op.add_column(sa.Column(
            'presentation',
            sa.Enum(*PRESENTATIONS, name='presentation', native_enum=False, create_constraint=True, length=32),
            nullable=False,
            server_default='not_recorded',
        ))
        batch_op.add_column(
            sa.Column('flag_cobalt_allergy', sa.Boolean(), nullable=False, server_default=sa.false())
        )

    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.add_column(sa.Column('unit_gtin', sa.String(length=14), nullable=True))
        batch_op.add_column(sa.Column('unit_ndc', sa.String(length=20), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_products_unit_gtin'), ['unit_gtin'])

    with op.batch_alter_table('treatment_plans', schema=None) as batch_op:
        batch_op.add_column(sa.Column('supplied_as', sa.Text(), nullable=False, server_default=''))

    with op.batch_alter_table('patients', schema=None) as batch_op:
        batch_op.alter_column('presentation', existing_type=sa.String(length=32), server_default=None)
        batch_op.alter_column('flag_cobalt_allergy', existing_type=sa.Boolean(), server_default=None)
    with op.batch_alter_table('treatment_plans', schema=None) as batch_op:
        batch_op.alter_column('supplied_as', existing_type=sa.Text(), server_default=None)

    conn = op.get_bind()
    taken = conn.execute(sa.text('SELECT COUNT(*) FROM products WHERE gtin = :g'), {'g': GLAND_LISTED}).scalar()
    if not taken:
        conn.execute(
            sa.text('UPDATE products SET gtin = :listed WHERE gtin = :derived'),
            {'listed': GLAND_LISTED, 'derived': GLAND_DERIVED},
        )


def downgrade() -> None:
    conn = op.get_bind()
    taken = conn.execute(sa.text('SELECT COUNT(*) FROM products WHERE gtin = :g'), {'g': GLAND_DERIVED}).scalar()
    if not taken:
        conn.execute(
            sa.text('UPDATE products SET gtin = :derived WHERE gtin = :listed'),
            {'listed': GLAND_LISTED, 'derived': GLAND_DERIVED},
        )
    with op.batch_alter_table('treatment_plans', schema=None) as batch_op:
        batch_op.drop_column('supplied_as')

    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_products_unit_gtin'), type_='unique')
        batch_op.drop_column('unit_ndc')
        batch_op.drop_column('unit_gtin')

    with op.batch_alter_table('patients', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_patients_presentation'), type_='check')
        batch_op.drop_column('flag_cobalt_allergy')
        batch_op.drop_column('presentation')
