"""`python -m curate`: validate, convert, provision-model, run."""
from curate.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
