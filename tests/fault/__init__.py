"""Faults: the database, the server and the push service failing, with nothing lost."""
