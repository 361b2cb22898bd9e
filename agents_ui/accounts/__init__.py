"""Accounts and access: users and roles, login sessions, lockout, the audit log, permissions."""
