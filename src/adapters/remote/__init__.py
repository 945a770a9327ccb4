"""remote adapter."""
