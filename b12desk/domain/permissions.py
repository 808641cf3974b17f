"""Which role may do what: the single table every service consults before it writes or reads."""

from __future__ import annotations

from enum import StrEnum

from b12desk.domain.enums import Role


class Permission(StrEnum):
    READ_PATIENTS = "read_patients"
    EDIT_PATIENTS = "edit_patients"
    ARCHIVE_PATIENTS = "archive_patients"
    IMPORT_PATIENTS = "import_patients"
    IMPORT_HISTORY = "import_history"  # doses given before the clinic used b12desk
    RECORD_LABS = "record_labs"
    MANAGE_STAFF = "manage_staff"
    EDIT_FORMULARY = "edit_formulary"
    MANAGE_STOCK = "manage_stock"
    EDIT_TEMPLATES = "edit_templates"
    PRESCRIBE_PLANS = "prescribe_plans"
    VERIFY_PLANS = "verify_plans"
    RECORD_ADMINISTRATIONS = "record_administrations"
    EXPORT_REPORTS = "export_reports"
    READ_AUDIT = "read_audit"
    GENERATE_DEMO_DATA = "generate_demo_data"
    CONFIGURE_CLINIC = "configure_clinic"  # time zone, injection sites, dose-safety limits


_CLINICAL_READ = {Permission.READ_PATIENTS}

# Which permissions each service checks is resources/service_permissions.json; a test calls every service
# as every role against the two tables together (tests/services/test_permission_matrix.py).
ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.NURSE: frozenset(
        _CLINICAL_READ
        | {
            Permission.EDIT_PATIENTS,
            Permission.RECORD_LABS,
            Permission.RECORD_ADMINISTRATIONS,
            Permission.MANAGE_STOCK,
        }
    ),
    Role.PHARMACIST: frozenset(
        _CLINICAL_READ
        | {
            Permission.EDIT_PATIENTS,
            Permission.RECORD_LABS,
            Permission.EDIT_FORMULARY,
            Permission.MANAGE_STOCK,
            Permission.EDIT_TEMPLATES,
            Permission.PRESCRIBE_PLANS,
            Permission.VERIFY_PLANS,
            Permission.READ_AUDIT,
            Permission.CONFIGURE_CLINIC,
            Permission.IMPORT_HISTORY,
        }
    ),
    Role.MANAGER: frozenset(
        _CLINICAL_READ
        | {
            Permission.EDIT_PATIENTS,
            Permission.ARCHIVE_PATIENTS,
            Permission.IMPORT_PATIENTS,
            Permission.IMPORT_HISTORY,
            Permission.EXPORT_REPORTS,
            Permission.READ_AUDIT,
        }
    ),
    Role.ADMIN: frozenset(Permission),
}


def role_can(role: Role, permission: Permission) -> bool:
    return permission in ROLE_PERMISSIONS[role]
