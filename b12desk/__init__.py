"""b12desk: vitamin B12 injection treatment desk for clinic pharmacy and nursing staff."""

__version__ = "0.1.0"
