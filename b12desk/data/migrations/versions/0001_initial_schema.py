"""Initial schema: staff, patients, labs, formulary, stock, regimens, plans, schedule, doses, audit.

Revision ID: 0001
Revises:
Create Date: 2026-11-25 21:58:49.769558
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('patients',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('mrn', sa.String(length=32), nullable=False),
    sa.Column('family_name', sa.String(length=100), nullable=False),
    sa.Column('given_name', sa.String(length=100), nullable=False),
    sa.Column('date_of_birth', sa.Date(), nullable=False),
    sa.Column('sex', sa.Enum('female', 'male', 'other', 'unknown', name='sex', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('phone', sa.String(length=30), nullable=False),
    sa.Column('email', sa.String(length=200), nullable=False),
    sa.Column('address', sa.Text(), nullable=False),
    sa.Column('cause', sa.Enum('dietary', 'pernicious_anaemia', 'malabsorption_gi_disease', 'gastrectomy', 'ileal_resection', 'post_bariatric', 'medication_metformin', 'medication_acid_suppression', 'medication_nitrous_oxide', 'medication_other', 'unknown', name='cause', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('neuro_involvement', sa.Boolean(), nullable=False),
    sa.Column('neuro_symptoms', sa.Text(), nullable=False),
    sa.Column('pregnant_or_breastfeeding', sa.Boolean(), nullable=False),
    sa.Column('flag_b12_hypersensitivity', sa.Boolean(), nullable=False),
    sa.Column('flag_lebers_disease', sa.Boolean(), nullable=False),
    sa.Column('flag_benzyl_alcohol_sensitivity', sa.Boolean(), nullable=False),
    sa.Column('allergies', sa.Text(), nullable=False),
    sa.Column('notes', sa.Text(), nullable=False),
    sa.Column('archived', sa.Boolean(), nullable=False),
    sa.Column('archived_at', sa.DateTime(), nullable=True),
    sa.Column('archive_reason', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_patients')),
    sa.UniqueConstraint('mrn', name=op.f('uq_patients_mrn'))
    )
    with op.batch_alter_table('patients', schema=None) as batch_op:
        batch_op.create_index('ix_patients_name', ['family_name', 'given_name'], unique=False)

    op.create_table('products',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('formulation', sa.Enum('cyanocobalamin', 'hydroxocobalamin', 'other', name='formulation', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('manufacturer', sa.String(length=200), nullable=False),
    sa.Column('brand', sa.String(length=200), nullable=False),
    sa.Column('strength_mcg_per_ml', sa.Numeric(precision=12, scale=3), nullable=False),
    sa.Column('container', sa.Enum('ampoule', 'single_dose_vial', 'multi_dose_vial', name='container', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('volume_ml', sa.Numeric(precision=8, scale=3), nullable=False),
    sa.Column('preservative', sa.String(length=200), nullable=False),
    sa.Column('gtin', sa.String(length=14), nullable=True),
    sa.Column('ndc', sa.String(length=20), nullable=True),
    sa.Column('storage_note', sa.Text(), nullable=False),
    sa.Column('beyond_use_days', sa.Integer(), nullable=True),
    sa.Column('reorder_level', sa.Integer(), nullable=False),
    sa.Column('for_deficiency', sa.Boolean(), nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.CheckConstraint('strength_mcg_per_ml > 0', name=op.f('ck_products_strength_positive')),
    sa.CheckConstraint('volume_ml > 0', name=op.f('ck_products_volume_positive')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_products')),
    sa.UniqueConstraint('gtin', name=op.f('uq_products_gtin'))
    )
    op.create_table('staff',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('full_name', sa.String(length=200), nullable=False),
    sa.Column('role', sa.Enum('nurse', 'pharmacist', 'manager', 'admin', name='role', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('password_hash', sa.String(length=200), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_staff')),
    sa.UniqueConstraint('username', name=op.f('uq_staff_username'))
    )
    op.create_table('audit_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('staff_id', sa.Integer(), nullable=True),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('entity', sa.String(length=64), nullable=False),
    sa.Column('entity_id', sa.String(length=64), nullable=False),
    sa.Column('old_values', sa.Text(), nullable=False),
    sa.Column('new_values', sa.Text(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], name=op.f('fk_audit_events_staff_id_staff')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_events'))
    )
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.create_index('ix_audit_events_entity', ['entity', 'entity_id'], unique=False)

    op.create_table('clinic_settings',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('updated_by_id', sa.Integer(), nullable=True),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['updated_by_id'], ['staff.id'], name=op.f('fk_clinic_settings_updated_by_id_staff')),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_clinic_settings'))
    )
    op.create_table('lab_results',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('test_code', sa.String(length=40), nullable=False),
    sa.Column('context', sa.Enum('baseline', 'follow_up', name='lab_context', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('taken_on', sa.Date(), nullable=False),
    sa.Column('value_text', sa.String(length=40), nullable=False),
    sa.Column('value', sa.Numeric(precision=14, scale=4), nullable=True),
    sa.Column('unit', sa.String(length=20), nullable=False),
    sa.Column('value_canonical', sa.Numeric(precision=14, scale=4), nullable=True),
    sa.Column('canonical_unit', sa.String(length=20), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('status', sa.Enum('current', 'amended', 'entered_in_error', name='record_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('corrects_id', sa.Integer(), nullable=True),
    sa.Column('entered_by_id', sa.Integer(), nullable=False),
    sa.Column('entered_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['corrects_id'], ['lab_results.id'], name=op.f('fk_lab_results_corrects_id_lab_results')),
    sa.ForeignKeyConstraint(['entered_by_id'], ['staff.id'], name=op.f('fk_lab_results_entered_by_id_staff')),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_lab_results_patient_id_patients')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lab_results'))
    )
    with op.batch_alter_table('lab_results', schema=None) as batch_op:
        batch_op.create_index('ix_lab_results_patient_taken', ['patient_id', 'taken_on'], unique=False)

    op.create_table('lots',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=False),
    sa.Column('lot_number', sa.String(length=20), nullable=False),
    sa.Column('expiry', sa.Date(), nullable=False),
    sa.Column('supplier', sa.String(length=200), nullable=False),
    sa.Column('received_on', sa.Date(), nullable=False),
    sa.Column('quantity_on_hand', sa.Integer(), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.CheckConstraint('quantity_on_hand >= 0', name=op.f('ck_lots_quantity_not_negative')),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_lots_product_id_products')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lots')),
    sa.UniqueConstraint('product_id', 'lot_number', name=op.f('uq_lots_product_id_lot_number'))
    )
    op.create_table('regimen_templates',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('formulation', sa.Enum('cyanocobalamin', 'hydroxocobalamin', 'other', name='formulation', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('definition', sa.Text(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['staff.id'], name=op.f('fk_regimen_templates_created_by_id_staff')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_regimen_templates')),
    sa.UniqueConstraint('code', 'version', name=op.f('uq_regimen_templates_code_version'))
    )
    op.create_table('treatment_plans',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('template_id', sa.Integer(), nullable=False),
    sa.Column('formulation', sa.Enum('cyanocobalamin', 'hydroxocobalamin', 'other', name='formulation', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('dose_mcg', sa.Numeric(precision=12, scale=3), nullable=False),
    sa.Column('route', sa.Enum('im', 'deep_sc', 'sc', 'iv', 'oral', name='route', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('start_date', sa.Date(), nullable=False),
    sa.Column('prescriber', sa.String(length=200), nullable=False),
    sa.Column('indication', sa.Text(), nullable=False),
    sa.Column('status', sa.Enum('draft', 'verified', 'active', 'completed', 'stopped', name='plan_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=False),
    sa.Column('verified_by_id', sa.Integer(), nullable=True),
    sa.Column('verified_at', sa.DateTime(), nullable=True),
    sa.Column('verification_meaning', sa.Text(), nullable=False),
    sa.Column('verified_snapshot', sa.Text(), nullable=False),
    sa.Column('end_reason', sa.Text(), nullable=False),
    sa.Column('conditions', sa.String(length=200), nullable=False),
    sa.Column('override_reason', sa.Text(), nullable=False),
    sa.Column('override_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.CheckConstraint('dose_mcg > 0', name=op.f('ck_treatment_plans_dose_positive')),
    sa.ForeignKeyConstraint(['author_id'], ['staff.id'], name=op.f('fk_treatment_plans_author_id_staff')),
    sa.ForeignKeyConstraint(['override_by_id'], ['staff.id'], name=op.f('fk_treatment_plans_override_by_id_staff')),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_treatment_plans_patient_id_patients')),
    sa.ForeignKeyConstraint(['template_id'], ['regimen_templates.id'], name=op.f('fk_treatment_plans_template_id_regimen_templates')),
    sa.ForeignKeyConstraint(['verified_by_id'], ['staff.id'], name=op.f('fk_treatment_plans_verified_by_id_staff')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_treatment_plans'))
    )
    with op.batch_alter_table('treatment_plans', schema=None) as batch_op:
        batch_op.create_index('ix_treatment_plans_patient_status', ['patient_id', 'status'], unique=False)

    op.create_table('vials',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('lot_id', sa.Integer(), nullable=False),
    sa.Column('opened_at', sa.DateTime(), nullable=False),
    sa.Column('opened_by_id', sa.Integer(), nullable=False),
    sa.Column('discard_by', sa.DateTime(), nullable=False),
    sa.Column('remaining_ml', sa.Numeric(precision=8, scale=3), nullable=False),
    sa.Column('status', sa.Enum('open', 'discarded', name='vial_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('discarded_at', sa.DateTime(), nullable=True),
    sa.Column('discard_reason', sa.Text(), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.CheckConstraint('remaining_ml >= 0', name=op.f('ck_vials_remaining_not_negative')),
    sa.ForeignKeyConstraint(['lot_id'], ['lots.id'], name=op.f('fk_vials_lot_id_lots')),
    sa.ForeignKeyConstraint(['opened_by_id'], ['staff.id'], name=op.f('fk_vials_opened_by_id_staff')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vials'))
    )
    op.create_table('plan_phases',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('induction', 'maintenance', name='phase_kind', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('dose_mcg', sa.Numeric(precision=12, scale=3), nullable=False),
    sa.Column('interval_days', sa.Integer(), nullable=True),
    sa.Column('times_per_week', sa.Integer(), nullable=True),
    sa.Column('dose_count', sa.Integer(), nullable=True),
    sa.Column('started_on', sa.Date(), nullable=True),
    sa.Column('ended_on', sa.Date(), nullable=True),
    sa.Column('end_reason', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['plan_id'], ['treatment_plans.id'], name=op.f('fk_plan_phases_plan_id_treatment_plans')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_plan_phases')),
    sa.UniqueConstraint('plan_id', 'seq', name=op.f('uq_plan_phases_plan_id_seq'))
    )
    with op.batch_alter_table('plan_phases', schema=None) as batch_op:
        batch_op.create_index('ix_plan_phases_plan_open', ['plan_id', 'ended_on', 'seq'], unique=False)

    op.create_table('scheduled_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=False),
    sa.Column('phase_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.Enum('dose', 'lab', 'review', name='event_kind', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=False),
    sa.Column('lab_test_code', sa.String(length=40), nullable=True),
    sa.Column('due_on', sa.Date(), nullable=False),
    sa.Column('window_start', sa.Date(), nullable=False),
    sa.Column('window_end', sa.Date(), nullable=False),
    sa.Column('status', sa.Enum('due', 'done', 'missed', 'cancelled', name='event_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_scheduled_events_patient_id_patients')),
    sa.ForeignKeyConstraint(['phase_id'], ['plan_phases.id'], name=op.f('fk_scheduled_events_phase_id_plan_phases')),
    sa.ForeignKeyConstraint(['plan_id'], ['treatment_plans.id'], name=op.f('fk_scheduled_events_plan_id_treatment_plans')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scheduled_events'))
    )
    with op.batch_alter_table('scheduled_events', schema=None) as batch_op:
        batch_op.create_index('ix_scheduled_events_patient_status_kind_due', ['patient_id', 'status', 'kind', 'due_on'], unique=False)
        batch_op.create_index('ix_scheduled_events_status_due', ['status', 'due_on'], unique=False)

    op.create_table('administrations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=True),
    sa.Column('scheduled_event_id', sa.Integer(), nullable=True),
    sa.Column('product_id', sa.Integer(), nullable=True),
    sa.Column('lot_id', sa.Integer(), nullable=True),
    sa.Column('vial_id', sa.Integer(), nullable=True),
    sa.Column('given_at', sa.DateTime(), nullable=False),
    sa.Column('dose_mcg', sa.Numeric(precision=12, scale=3), nullable=False),
    sa.Column('volume_ml', sa.Numeric(precision=8, scale=3), nullable=False),
    sa.Column('route', sa.Enum('im', 'deep_sc', 'sc', 'iv', 'oral', name='route', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('site', sa.Enum('deltoid_left', 'deltoid_right', 'vastus_lateralis_left', 'vastus_lateralis_right', 'ventrogluteal_left', 'ventrogluteal_right', 'dorsogluteal_left', 'dorsogluteal_right', name='injection_site', native_enum=False, create_constraint=True, length=32), nullable=True),
    sa.Column('outcome', sa.Enum('given', 'refused', 'not_given', name='administration_outcome', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('given_by_id', sa.Integer(), nullable=False),
    sa.Column('recorded_at', sa.DateTime(), nullable=False),
    sa.Column('status', sa.Enum('current', 'amended', 'entered_in_error', name='record_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('amends_id', sa.Integer(), nullable=True),
    sa.Column('amendment_reason', sa.Text(), nullable=False),
    sa.Column('external', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['amends_id'], ['administrations.id'], name=op.f('fk_administrations_amends_id_administrations')),
    sa.ForeignKeyConstraint(['given_by_id'], ['staff.id'], name=op.f('fk_administrations_given_by_id_staff')),
    sa.ForeignKeyConstraint(['lot_id'], ['lots.id'], name=op.f('fk_administrations_lot_id_lots')),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_administrations_patient_id_patients')),
    sa.ForeignKeyConstraint(['plan_id'], ['treatment_plans.id'], name=op.f('fk_administrations_plan_id_treatment_plans')),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_administrations_product_id_products')),
    sa.ForeignKeyConstraint(['scheduled_event_id'], ['scheduled_events.id'], name=op.f('fk_administrations_scheduled_event_id_scheduled_events')),
    sa.ForeignKeyConstraint(['vial_id'], ['vials.id'], name=op.f('fk_administrations_vial_id_vials')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_administrations'))
    )
    with op.batch_alter_table('administrations', schema=None) as batch_op:
        batch_op.create_index('ix_administrations_patient_given', ['patient_id', 'given_at'], unique=False)

    op.create_table('stock_movements',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('lot_id', sa.Integer(), nullable=False),
    sa.Column('vial_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.Enum('received', 'opened', 'dose_drawn', 'wasted', 'adjusted', 'returned', name='movement_kind', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('containers', sa.Integer(), nullable=False),
    sa.Column('volume_ml', sa.Numeric(precision=8, scale=3), nullable=False),
    sa.Column('waste_reason', sa.Enum('expired', 'past_discard_by', 'contaminated', 'dropped_or_broken', 'drawn_not_given', 'empty', 'other', name='waste_reason', native_enum=False, create_constraint=True, length=32), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('administration_id', sa.Integer(), nullable=True),
    sa.Column('staff_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['administration_id'], ['administrations.id'], name=op.f('fk_stock_movements_administration_id_administrations')),
    sa.ForeignKeyConstraint(['lot_id'], ['lots.id'], name=op.f('fk_stock_movements_lot_id_lots')),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], name=op.f('fk_stock_movements_staff_id_staff')),
    sa.ForeignKeyConstraint(['vial_id'], ['vials.id'], name=op.f('fk_stock_movements_vial_id_vials')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stock_movements'))
    )
    with op.batch_alter_table('stock_movements', schema=None) as batch_op:
        batch_op.create_index('ix_stock_movements_lot_at', ['lot_id', 'at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('stock_movements', schema=None) as batch_op:
        batch_op.drop_index('ix_stock_movements_lot_at')

    op.drop_table('stock_movements')
    with op.batch_alter_table('administrations', schema=None) as batch_op:
        batch_op.drop_index('ix_administrations_patient_given')

    op.drop_table('administrations')
    with op.batch_alter_table('scheduled_events', schema=None) as batch_op:
        batch_op.drop_index('ix_scheduled_events_status_due')
        batch_op.drop_index('ix_scheduled_events_patient_status_kind_due')

    op.drop_table('scheduled_events')
    with op.batch_alter_table('plan_phases', schema=None) as batch_op:
        batch_op.drop_index('ix_plan_phases_plan_open')

    op.drop_table('plan_phases')
    op.drop_table('vials')
    with op.batch_alter_table('treatment_plans', schema=None) as batch_op:
        batch_op.drop_index('ix_treatment_plans_patient_status')

    op.drop_table('treatment_plans')
    op.drop_table('regimen_templates')
    op.drop_table('lots')
    with op.batch_alter_table('lab_results', schema=None) as batch_op:
        batch_op.drop_index('ix_lab_results_patient_taken')

    op.drop_table('lab_results')
    op.drop_table('clinic_settings')
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_events_entity')

    op.drop_table('audit_events')
    op.drop_table('staff')
    op.drop_table('products')
    with op.batch_alter_table('patients', schema=None) as batch_op:
        batch_op.drop_index('ix_patients_name')

    op.drop_table('patients')
