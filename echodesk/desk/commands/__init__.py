"""Agents' email commands: finding the lines, the registry of verbs, the changes."""
