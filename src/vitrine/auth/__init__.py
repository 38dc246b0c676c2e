"""Accounts and security: users, passwords, JWT access tokens, rotating refresh tokens, roles, audit log."""
