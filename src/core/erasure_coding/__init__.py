"""Erasure coding: Reed-Solomon shards of a volume, as Go writes and reads them."""
