"""Plumbing shared by every keyart server: config, logging, errors, bootstrap."""
