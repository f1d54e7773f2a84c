"""The ``echodesk`` command: one click group, its commands in modules by topic."""

from echodesk.cli import agents, inbound, outbound, quarantine, rules, running, search
from echodesk.cli.app import main

__all__ = ["agents", "inbound", "main", "outbound", "quarantine", "rules", "running", "search"]
