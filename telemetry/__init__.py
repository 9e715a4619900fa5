"""Logging, redaction, settings and build information shared by every component."""
