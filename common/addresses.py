"""Where each process listens by default on one machine (`make run`), and so where clients look.

Every default port and address lives here; deployments override them with the
`<SERVICE>_ADDRESS` and `<SERVICE>_TARGET` variables.
"""

from __future__ import annotations

LOOPBACK = "127.0.0.1"
GATEWAY = f"{LOOPBACK}:50051"
PROFILE = f"{LOOPBACK}:50052"
ARTWORK = f"{LOOPBACK}:50053"
RANKER = f"{LOOPBACK}:50054"
PREVIEW = f"{LOOPBACK}:8080"

# By process name, as `keyart run` starts them.
DEFAULTS = {
    "gateway": GATEWAY,
    "profile": PROFILE,
    "artwork": ARTWORK,
    "ranker": RANKER,
    "preview": PREVIEW,
}
