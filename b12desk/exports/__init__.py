"""PDF labels and reports (reportlab) and Excel workbooks (openpyxl), loaded only when used."""
