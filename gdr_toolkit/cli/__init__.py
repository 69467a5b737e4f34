"""Command-line entry points: thin shells over library functions (console_scripts in setup.py)."""
