"""Fixtures of the service tests."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from tests.conftest import Staffing
from tests.services.dose_world import World, make_world


@pytest.fixture
def world(session: Session, staff: Staffing) -> World:
    """One patient on a verified plan, an ampoule lot and an open vial, at a fixed clinic time."""
    return make_world(session, staff)
