"""Figures written into run directories (and, later, the HTML report)."""
