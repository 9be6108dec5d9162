"""Spillway's runtime: everything app.py's handlers call, and all that ships besides app.py.

Packages by capability, in the order an event meets them:
- door/: checks a request, builds the envelope, answers the sender.
- delivery/: puts an envelope into Redis (one script, one round trip) behind a circuit breaker.
- queue/: the spill to SQS, the drain that redrives it, the dead-letter queue.
- config/: webhooks.json and the environment, validated once.
- verification/: one module per signature scheme.
- status/: /health and /stats.
At the root, what every package shares: the envelope, the errors, the log, the process state.
"""
