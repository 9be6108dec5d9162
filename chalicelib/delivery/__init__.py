"""Putting an envelope into Redis: `deliver.deliver` is the one entry point (the door and the
drain both call it); the breaker, the clients and the Lua script are its parts."""
