"""The chaos soak: a local stack of separate processes, senders, a seeded fault injector, and a
reconciliation of every event against the Redis stream (`make chaos`)."""
