"""Agents' mail: verification, commands, answers, tickets opened by mail, sign-in links."""
