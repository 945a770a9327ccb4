"""A single volume: loading, integrity checking, reads and writes."""
