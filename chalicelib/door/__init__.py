"""The door: POST /webhook/{id}. Checks the request, builds the envelope, delivers it inline
or spills it to the queue, and answers the sender (receive.py reads top to bottom)."""
