"""Infusion Check-in: patient-reported outcomes between ketamine infusion sessions."""
