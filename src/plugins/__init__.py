"""Plugin hooks (pluggy): needle-map kinds and tier backends, built-in and third-party."""
