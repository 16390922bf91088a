"""Hostile input, access control and guessing attacks."""
