import os
import sys

# Telemetry is Prefect's only outbound call; the ephemeral server needs longer than
# the default to start on a busy 2-core machine.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")

from flows.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
