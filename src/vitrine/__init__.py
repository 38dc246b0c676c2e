"""Vitrine: a self-hosted commerce-data hub."""

__version__ = "0.1.0"
