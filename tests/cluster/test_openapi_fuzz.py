"""schemathesis against the running server's /openapi.json: every answer to its generated
requests has a declared status, content type and body, and no 5xx goes unexplained (a crash).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from tests.support.go_cluster import GoCluster, http
from tests.support.our_server import OurServer

CONFIG = """
[checks]
enabled = false
explained_server_error.enabled = true  # tests/support/openapi_checks.py
status_code_conformance.enabled = true
content_type_conformance.enabled = true
response_schema_conformance.enabled = true

[parameters]
"path.vid" = "{vid}"
"path.fid" = "{fid}"

# A file's answer has the file's type, or what response-content-type asks for, or none
# (no stored type and a Content-Encoding): no type to check, nor a schema.
[[operations]]
include-path-regex = "^/[{{]vid[}}]"
include-method-regex = "^(GET|HEAD)$"
checks.content_type_conformance.enabled = false
checks.response_schema_conformance.enabled = false
"""
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_schemathesis_finds_no_undeclared_answers(tmp_path) -> None:
    binary = os.path.join(os.path.dirname(sys.executable), "schemathesis")
    binary = binary if os.path.exists(binary) else shutil.which("schemathesis")
    assert binary, "schemathesis is a test dependency"
    go = GoCluster(str(tmp_path))
    with go.running():
        go.start_master()
        ours = OurServer(str(tmp_path / "ours"), go.master_port, str(tmp_path / "ours.log"))
        ours.start()
        try:
            ours.wait_registered(go.master_url)
            http("GET", f"{go.master_url}/vol/grow?count=1")
            vid, fid = go.assign()["fid"].split(",")
            status, _, _ = http("PUT", f"{ours.url}/{vid},{fid}", b"fuzz me " * 64)
            assert status == 201
            # Every file-id operation names that file, so the fuzzed queries and headers
            # reach a real read (ranges, conditions, response-* headers), not only a 404.
            (tmp_path / "schemathesis.toml").write_text(CONFIG.format(vid=vid, fid=fid))
            result = subprocess.run(
                [
                    binary,
                    "run",
                    f"{ours.url}/openapi.json",
                    "--url",
                    ours.url,
                    "--exclude-path",
                    "/metrics",  # on the metrics port, not the one --url names
                    "--max-examples",
                    "30",
                    "--seed",
                    "1",
                ],
                capture_output=True,
                text=True,
                timeout=600,
                cwd=str(tmp_path),  # it keeps a cache directory where it runs
                env={
                    **os.environ,
                    "SCHEMATHESIS_HOOKS": "tests.support.openapi_checks",
                    "PYTHONPATH": ROOT,
                },
            )
        finally:
            ours.stop()
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "passed" in result.stdout
