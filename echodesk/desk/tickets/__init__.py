"""Changing a ticket: field changes, status transitions, rule actions."""
