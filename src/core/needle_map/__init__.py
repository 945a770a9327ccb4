"""Needle maps: needle id -> (offset, size) for one volume."""
