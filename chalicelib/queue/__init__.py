"""The retry queue and what drains it: the spill (door side), the drain with its redrive
schedule and dead letters (SQS side), and the queue message both read and write."""
