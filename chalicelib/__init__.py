"""Spillway: a webhook relay that publishes to Redis and spills to SQS."""
