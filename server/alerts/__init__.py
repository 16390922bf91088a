"""Alerts raised on patients: kinds, severity and rules, declared once."""
