"""The domain: needles, volumes, the store. Imports nothing from adapters or plugins."""
