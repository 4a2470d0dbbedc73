"""Plumbing for files, shared by every folder above: atomic writes and JSON that stays valid."""
