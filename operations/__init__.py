"""Operator tooling that runs outside Lambda: queue bootstrap, the dead-letter tool.

Nothing here is deployed (only app.py, chalicelib/, vendor/ and requirements.txt are); it may
import chalicelib, never the other way round.
"""
