"""Checking that a request comes from its sender: one module per signature scheme."""
