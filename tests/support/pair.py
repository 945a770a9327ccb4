"""Two clusters side by side for differential tests: a Go master with Go's volume server, and
a Go master with ours. Each master grows volume 1 on its only volume server."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator

from tests.support.go_cluster import GoCluster, http, wait_until
from tests.support.our_server import OurServer


@contextlib.contextmanager
def go_and_ours(
    root: str,
    cwd: str | None = None,
    our_flags: list[str] | None = None,
    go_flags: list[str] | None = None,
) -> Iterator[tuple[str, str]]:
    """Yield (Go volume server URL, our URL), both holding volume 1."""
    go = GoCluster(os.path.join(root, "go"), cwd=cwd)
    mine = GoCluster(os.path.join(root, "mine"), cwd=cwd)
    for cluster in (go, mine):
        os.makedirs(os.path.join(cluster.workdir, "data"))
    ours = None
    try:
        go.start_master()
        go.start_volume(os.path.join(go.workdir, "data"), extra=go_flags)
        mine.start_master()
        ours = OurServer(
            os.path.join(mine.workdir, "data"),
            mine.master_port,
            os.path.join(mine.workdir, "ours.log"),
            extra=our_flags or [],
        )
        ours.start()
        ours.wait_registered(mine.master_url)
        for cluster, url in ((go, go.volume_url), (mine, ours.url)):
            http("GET", f"{cluster.master_url}/vol/grow?count=1")

            def has_volume_1(url: str = url) -> bool:
                volumes = json.loads(http("GET", f"{url}/status")[2])["Volumes"] or []
                return any(v["Id"] == 1 for v in volumes)

            wait_until(has_volume_1, what="volume 1")
        yield go.volume_url, ours.url
    finally:
        if ours is not None:
            ours.stop()
        go.stop()
        mine.stop()
