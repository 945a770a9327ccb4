"""Needle records and upload parsing."""
