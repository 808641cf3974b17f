"""The app's look: Fusion everywhere (the same on every workstation), calm colours, red only for errors."""

from __future__ import annotations

from PySide6.QtWidgets import QApplication

ERROR_RED = "#b3261e"
WARNING_AMBER = "#8a5300"

STYLE_SHEET = f"""
QLabel#fieldError {{ color: {ERROR_RED}; }}
QLabel#formSummary {{
    color: {ERROR_RED}; background: #fdecea; border: 1px solid #f0b8b3; border-radius: 4px; padding: 6px;
}}
QLabel#inlineError {{ color: {ERROR_RED}; font-weight: bold; }}
QLineEdit[invalid="true"], QPlainTextEdit[invalid="true"], QComboBox[invalid="true"],
QCheckBox[invalid="true"] {{
    border: 2px solid {ERROR_RED}; border-radius: 3px;
}}
QGroupBox#contraindications {{
    border: 2px solid {ERROR_RED}; border-radius: 4px; background: #fff6f5;
    margin-top: 14px; padding: 8px 6px 4px 6px; font-weight: bold;
}}
QGroupBox#contraindications::title {{
    subcontrol-origin: margin; left: 8px; padding: 0 4px; color: {ERROR_RED};
}}
QGroupBox#contraindications QCheckBox {{ font-weight: normal; }}
QGroupBox#contraindications QCheckBox:checked {{ font-weight: bold; color: {ERROR_RED}; }}
QGroupBox#demoPanel {{
    border: 2px dashed {WARNING_AMBER}; border-radius: 4px; background: #fff8e6;
    margin-top: 14px; padding: 8px 6px 4px 6px;
}}
QGroupBox#demoPanel::title {{
    subcontrol-origin: margin; left: 8px; padding: 0 4px; color: {WARNING_AMBER}; font-weight: bold;
}}
QLabel#demoBadge {{
    color: white; background: {WARNING_AMBER}; border-radius: 3px; padding: 1px 6px; font-weight: bold;
}}
QLabel#advice {{
    color: {WARNING_AMBER}; background: #fff8e6; border: 1px solid #e8c77a; border-radius: 4px; padding: 6px;
}}
QLabel#placeholderTitle {{ font-size: 15pt; font-weight: bold; }}
QLabel#muted {{ color: #5f6368; }}
"""


def apply(app: QApplication) -> None:
    app.setStyle("Fusion")
    app.setStyleSheet(STYLE_SHEET)
