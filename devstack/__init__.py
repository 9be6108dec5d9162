"""Development and test tooling: local servers and runners. Never shipped to Lambda."""
