"""``VolumeCopy`` reserves the new ``.dat``'s disk space when the master runs with
``-volumePreallocate``: it asks ``GetMasterConfiguration`` and reserves the volume size
limit (weed/server/volume_grpc_copy.go), the file's size unchanged.

Ours keeps the reservation on the staged file that becomes the ``.dat``. Go 4.48 reserves the
``.dat`` and then renames its staged ``.dat.copying`` over it, so its copy ends up unreserved
(checked 2026-12-02 with volume.copy into Go's server: 30,848 bytes, 32,768 allocated, while a
volume Go allocated itself under the same master had 8 MiB allocated)."""

from __future__ import annotations

import os

from tests.cluster.test_data_movement import _fill, _read_files
from tests.cluster.test_weed_clients import shell
from tests.support.go_cluster import GoCluster, http, wait_until
from tests.support.our_server import OurServer

LIMIT_MB = 8


def test_volume_copy_preallocates_when_the_master_says_so(tmp_path) -> None:
    workdir = str(tmp_path)
    go = GoCluster(workdir)
    with go.running():
        go.start_master(volume_size_limit_mb=LIMIT_MB, extra=["-volumePreallocate"])
        go_dir = os.path.join(workdir, "go")
        os.makedirs(go_dir)
        go.start_volume(go_dir)
        grow = f"{go.master_url}/vol/grow?count=1&collection=moved"
        wait_until(lambda: http("GET", grow)[0] == 200, what="the master to grow a volume")
        vid, files = _fill(go, "moved")
        ours = OurServer(
            os.path.join(workdir, "ours"),
            go.master_port,
            os.path.join(workdir, "ours.log"),
            extra=["-offsetBytes=5"],
        )
        ours.start()
        try:
            ours.wait_registered(go.master_url)
            before = _read_files(go_dir, f"moved_{vid}")
            output = shell(
                go,
                f"lock\nvolume.copy -source=127.0.0.1:{go.volume_port} -target={ours.address} "
                f"-volumeId={vid}\nunlock",
            )
            assert _read_files(ours.data_dir, f"moved_{vid}") == before, output
            dat = os.stat(os.path.join(ours.data_dir, f"moved_{vid}.dat"))
            assert dat.st_size == len(before[".dat"]) < 64 * 1024
            assert dat.st_blocks * 512 >= LIMIT_MB * 1024 * 1024
            for fid, data in files.items():
                status, _, body = http("GET", f"{ours.url}/{fid}")
                assert (status, body) == ((404, b"") if data is None else (200, data)), fid
        finally:
            ours.stop()
