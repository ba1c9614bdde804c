"""`python -m synth`: generate, prefs, import-prefs, serve."""
from synth.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
