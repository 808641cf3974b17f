"""The injection site on a body map, front and back, each muscle left and right.

Shows the sites the clinic has switched off (greyed, not selectable), the patient's recent sites
(numbered, 1 the last), the site suggested (the least recently used the clinic allows: a green ring) and
the one chosen (filled). The patient faces the nurse in the front view, so their right is on the left.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QMouseEvent, QPainter, QPainterPath, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

from b12desk.domain.enums import SITE_LABELS, InjectionSite

SITE_NAMES = SITE_LABELS

FIGURE_W, FIGURE_H, GAP, TOP = 150.0, 290.0, 40.0, 24.0
RADIUS = 13.0
# Where each site sits: (view, x, y) as fractions of a figure's box; view 0 front, 1 back.
_PLACES: dict[InjectionSite, tuple[int, float, float]] = {
    InjectionSite.DELTOID_RIGHT: (0, 0.22, 0.25),
    InjectionSite.DELTOID_LEFT: (0, 0.78, 0.25),
    InjectionSite.VENTROGLUTEAL_RIGHT: (0, 0.27, 0.50),
    InjectionSite.VENTROGLUTEAL_LEFT: (0, 0.73, 0.50),
    InjectionSite.VASTUS_LATERALIS_RIGHT: (0, 0.31, 0.68),
    InjectionSite.VASTUS_LATERALIS_LEFT: (0, 0.69, 0.68),
    InjectionSite.DORSOGLUTEAL_LEFT: (1, 0.38, 0.53),
    InjectionSite.DORSOGLUTEAL_RIGHT: (1, 0.62, 0.53),
}
SELECTED = QColor("#1f5fbf")
SUGGESTED = QColor("#1e7d32")
RECENT = QColor("#8a5300")
OFF = QColor("#b8b8b8")


class BodyMapWidget(QWidget):
    """Click a site to choose it; `site_chosen` tells. Switched-off sites cannot be chosen."""

    site_chosen = Signal(object)  # InjectionSite

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMouseTracking(True)
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAccessibleName("Injection site body map")
        self._enabled: frozenset[InjectionSite] = frozenset(InjectionSite)
        self._recent: list[tuple[datetime, InjectionSite]] = []
        self._suggested: InjectionSite | None = None
        self._selected: InjectionSite | None = None

    # --- state ------------------------------------------------------------------------------------------

    def set_sites(
        self,
        *,
        enabled: Iterable[InjectionSite],
        recent: Sequence[tuple[datetime, InjectionSite]],
        suggested: InjectionSite | None,
    ) -> None:
        self._enabled = frozenset(enabled)
        self._recent = list(recent)
        self._suggested = suggested
        if self._selected is not None and self._selected not in self._enabled:
            self._selected = None
        self.update()

    def selected(self) -> InjectionSite | None:
        return self._selected

    def select(self, site: InjectionSite | None) -> bool:
        """Choose a site (as a click would); False, and nothing chosen, for a switched-off site."""
        if site is not None and site not in self._enabled:
            return False
        if site != self._selected:
            self._selected = site
            self.update()
            self.site_chosen.emit(site)
        return True

    def recent_number(self, site: InjectionSite) -> int | None:
        """1 for the site of the last dose, 2 for the one before, ...; None if not among the recent."""
        for n, (_at, s) in enumerate(self._recent, start=1):
            if s == site:
                return n
        return None

    # --- geometry ---------------------------------------------------------------------------------------

    def sizeHint(self) -> QSize:
        return QSize(int(2 * FIGURE_W + GAP + 16), int(FIGURE_H + TOP + 8))

    def _origin(self, view: int) -> QPointF:
        return QPointF(8 + view * (FIGURE_W + GAP), TOP)

    def center(self, site: InjectionSite) -> QPointF:
        view, fx, fy = _PLACES[site]
        o = self._origin(view)
        return QPointF(o.x() + fx * FIGURE_W, o.y() + fy * FIGURE_H)

    def site_at(self, point: QPointF) -> InjectionSite | None:
        for site in _PLACES:
            c = self.center(site)
            if (c.x() - point.x()) ** 2 + (c.y() - point.y()) ** 2 <= (RADIUS + 3) ** 2:
                return site
        return None

    # --- events -----------------------------------------------------------------------------------------

    def mousePressEvent(self, event: QMouseEvent) -> None:
        site = self.site_at(event.position())
        if site is None:
            return super().mousePressEvent(event)
        if site not in self._enabled:
            QToolTip.showText(
                event.globalPosition().toPoint(),
                f"The clinic does not use the {SITE_NAMES[site]} (Clinic settings).",
                self,
            )
            return None
        self.select(site)
        return None

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        site = self.site_at(event.position())
        self.setToolTip(self.describe(site) if site is not None else "")
        super().mouseMoveEvent(event)

    def describe(self, site: InjectionSite) -> str:
        parts = [SITE_NAMES[site].capitalize()]
        if site not in self._enabled:
            parts.append("switched off by the clinic")
        when = [at for at, s in self._recent if s == site]
        if when:
            parts.append(f"last used {when[0]:%Y-%m-%d}")
        if site == self._suggested:
            parts.append("suggested: rested longest")
        return "; ".join(parts)

    # --- painting ---------------------------------------------------------------------------------------

    def _figure(self, view: int) -> QPainterPath:
        o = self._origin(view)
        w, h = FIGURE_W, FIGURE_H
        path = QPainterPath()
        path.addEllipse(QRectF(o.x() + 0.40 * w, o.y(), 0.20 * w, 0.12 * h))  # head
        path.addRoundedRect(QRectF(o.x() + 0.27 * w, o.y() + 0.15 * h, 0.46 * w, 0.40 * h), 14, 14)  # trunk
        path.addRoundedRect(QRectF(o.x() + 0.10 * w, o.y() + 0.17 * h, 0.15 * w, 0.36 * h), 10, 10)  # arms
        path.addRoundedRect(QRectF(o.x() + 0.75 * w, o.y() + 0.17 * h, 0.15 * w, 0.36 * h), 10, 10)
        path.addRoundedRect(QRectF(o.x() + 0.28 * w, o.y() + 0.53 * h, 0.20 * w, 0.46 * h), 10, 10)  # legs
        path.addRoundedRect(QRectF(o.x() + 0.52 * w, o.y() + 0.53 * h, 0.20 * w, 0.46 * h), 10, 10)
        return path.simplified()

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        text = self.palette().windowText().color()
        for view, title, left, right in ((0, "Front", "R", "L"), (1, "Back", "L", "R")):
            o = self._origin(view)
            p.setPen(QPen(QColor("#9aa0a6"), 1.2))
            p.setBrush(QBrush(QColor("#f4f1ec")))
            p.drawPath(self._figure(view))
            p.setPen(text)
            p.drawText(QRectF(o.x(), 2, FIGURE_W, TOP - 4), Qt.AlignmentFlag.AlignCenter, title)
            p.setPen(QColor("#5f6368"))
            p.drawText(QRectF(o.x(), o.y() + 0.90 * FIGURE_H, 20, 16), Qt.AlignmentFlag.AlignLeft, left)
            p.drawText(
                QRectF(o.x() + FIGURE_W - 20, o.y() + 0.90 * FIGURE_H, 20, 16),
                Qt.AlignmentFlag.AlignRight,
                right,
            )
        for site in _PLACES:
            self._paint_site(p, site)
        p.end()

    def _paint_site(self, p: QPainter, site: InjectionSite) -> None:
        c = self.center(site)
        rect = QRectF(c.x() - RADIUS, c.y() - RADIUS, 2 * RADIUS, 2 * RADIUS)
        enabled = site in self._enabled
        if site == self._selected:
            p.setPen(QPen(SELECTED, 2))
            p.setBrush(QBrush(SELECTED))
        elif not enabled:
            p.setPen(QPen(OFF, 1.5))
            p.setBrush(QBrush(QColor("#e6e6e6")))
        else:
            p.setPen(QPen(QColor("#5f6368"), 1.5))
            p.setBrush(QBrush(QColor("white")))
        p.drawEllipse(rect)
        if not enabled:
            p.setPen(QPen(OFF, 2))
            p.drawLine(rect.topLeft() + QPointF(5, 5), rect.bottomRight() - QPointF(5, 5))
            p.drawLine(rect.topRight() + QPointF(-5, 5), rect.bottomLeft() + QPointF(5, -5))
        if site == self._suggested and site != self._selected:
            p.setBrush(Qt.BrushStyle.NoBrush)
            pen = QPen(SUGGESTED, 2.5, Qt.PenStyle.DashLine)
            p.setPen(pen)
            p.drawEllipse(rect.adjusted(-4, -4, 4, 4))
        number = self.recent_number(site)
        if number is not None:
            p.setPen(QColor("white") if site == self._selected else RECENT)
            font = p.font()
            font.setBold(True)
            p.setFont(font)
            p.drawText(rect, Qt.AlignmentFlag.AlignCenter, str(number))
        elif site == self._selected:
            p.setPen(QColor("white"))
            p.drawText(rect, Qt.AlignmentFlag.AlignCenter, "✓")
