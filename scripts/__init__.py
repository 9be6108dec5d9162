"""Entry points, run from the repository root as modules: `python -m scripts.<name>` (see the Makefile)."""
