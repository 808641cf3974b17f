"""Data files shipped with b12desk: reference catalogues, regimen templates, seed formulary, demo data."""
