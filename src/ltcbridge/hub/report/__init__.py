"""The hub's outputs: tidy CSV, an XLSX workbook and a single-file HTML report."""
