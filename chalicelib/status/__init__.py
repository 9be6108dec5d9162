"""What an operator asks the running relay: GET /health (shallow and deep) and GET /stats."""
