"""The ghz config files in loadtest/, generated from the demo catalog's reference page.

`python -m loadgen.reference` rewrites them; a test checks the committed files match.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from common import addresses
from demo.pages import reference_page

LOADTEST_DIR = Path(__file__).resolve().parents[1] / "loadtest"
CALL = "keyart.gateway.v1.PageService.RenderPage"


def reference_request(user_id: str = "romance-fan") -> dict[str, Any]:
    return {
        "user_id": user_id,
        "rows": [{"row_id": row_id, "title_ids": titles} for row_id, titles in reference_page()],
        "context": {"device_type": "DEVICE_TYPE_TV", "country": "US", "local_hour": 21},
    }


def configs() -> dict[str, dict[str, Any]]:
    common = {
        "call": CALL,
        "host": addresses.GATEWAY,
        "insecure": True,
        "data": reference_request(),
    }
    tls = {key: value for key, value in common.items() if key != "insecure"}
    return {
        "render_page.json": {**common, "concurrency": 8, "duration": "20s", "timeout": "1s"},
        "render_page_smoke.json": {**common, "concurrency": 2, "total": 40, "timeout": "2s"},
        # TLS with a bearer token: put the CA that signed the gateway's certificate at
        # loadtest/certs/ca.pem (relative to this file) and your token in the metadata.
        "render_page_tls.json": {
            **tls,
            "cacert": "certs/ca.pem",
            "metadata": {"authorization": "Bearer REPLACE-WITH-YOUR-TOKEN"},
            "concurrency": 2,
            "total": 40,
            "timeout": "2s",
        },
    }


def main() -> None:
    for name, config in configs().items():
        (LOADTEST_DIR / name).write_text(json.dumps(config, indent=1) + "\n")


if __name__ == "__main__":
    main()
