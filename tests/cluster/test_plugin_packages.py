"""The two example plugin packages of ``examples/``, pip-installed into a fresh venv and run by
our server (from that venv) against a stock Go master:

- ``seaweed-localdir-tier``: a tier backend type the Go master does not know (its
  ``master.toml`` cannot name it: the master exits at start), configured on our side with
  ``-tierConfig``; ``weed shell volume.tier.upload -dest=localdir.cold`` and
  ``volume.tier.download`` move a volume's ``.dat`` into the directory and back.
- ``seaweed-journal-map``: a needle-map kind (``-index=journal``) keeping a side file
  ``<volume>.jnl``, which vacuum rebuilds from the compacted index and volume delete removes.

The venv reuses the project venv's packages through a ``.pth`` line (no network, no builds
of dependencies); the project and the examples are copied out of the tree first, so pip's
in-tree builds leave nothing behind.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.cluster.test_weed_clients import shell
from tests.support.go_cluster import GoCluster, free_port_pair, http, wait_until, weed_binary
from tests.support.our_server import OurServer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _copy_sources(target: str) -> tuple[str, list[str]]:
    """The project (what its build needs) and the example packages, copied to ``target``."""
    project = os.path.join(target, "project")
    os.makedirs(project)
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy(os.path.join(ROOT, name), project)
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "build")
    shutil.copytree(os.path.join(ROOT, "src"), os.path.join(project, "src"), ignore=ignore)
    examples = []
    for name in ("localdir-tier", "journal-map"):
        example = os.path.join(target, name)
        shutil.copytree(os.path.join(ROOT, "examples", name), example, ignore=ignore)
        examples.append(example)
    return project, examples


def make_plugin_venv(workdir: str) -> str:
    """A fresh venv holding the project and both example packages; returns its
    ``seaweed-volume`` script. Dependencies come from this test's venv (a ``.pth`` line)."""
    venv = os.path.join(workdir, "venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
    python = os.path.join(venv, "bin", "python")
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    with open(os.path.join(purelib, "_project_venv.pth"), "w") as out:
        out.write(sysconfig.get_paths()["purelib"] + "\n")
    project, examples = _copy_sources(workdir)
    result = subprocess.run(
        [python, "-m", "pip", "install", "-q", "--no-index", "--no-deps"]
        + ["--no-build-isolation", project, *examples],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return os.path.join(venv, "bin", "seaweed-volume")


@dataclass
class Cluster:
    go: GoCluster
    ours: OurServer
    cold: str
    vid: int
    files: dict[str, bytes]

    def base(self, suffix: str) -> str:
        return os.path.join(self.ours.data_dir, f"t_{self.vid}{suffix}")

    def volumes(self) -> dict[int, dict]:
        status = json.loads(http("GET", f"{self.ours.url}/status")[2])
        return {v["Id"]: v for v in status["Volumes"] or []}

    def reads_match(self, deleted: frozenset[str] | set[str] = frozenset()) -> None:
        for fid, data in self.files.items():
            status, _, body = http("GET", f"{self.ours.url}/{fid}")
            assert (status, body) == ((404, b"") if fid in deleted else (200, data)), fid


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    workdir = str(tmp_path_factory.mktemp("plugins"))
    script = make_plugin_venv(workdir)
    cold = os.path.join(workdir, "cold")
    tier_config = os.path.join(workdir, "tiers.toml")
    with open(tier_config, "w") as out:
        out.write(f'[storage.backend.localdir.cold]\nenabled = true\ndirectory = "{cold}"\n')
    go = GoCluster(workdir)  # a stock master: no master.toml
    with go.running():
        go.start_master()
        ours = OurServer(
            os.path.join(workdir, "data"),
            go.master_port,
            os.path.join(workdir, "ours.log"),
            extra=["-index=journal", f"-tierConfig={tier_config}"],
            binary=script,
        )
        ours.start()
        try:
            ours.wait_registered(go.master_url)
            status, _, body = http("GET", f"{go.master_url}/vol/grow?count=1&collection=t")
            assert status == 200, body
            first = go.assign(collection="t")
            vid, rest = first["fid"].split(",")
            key, cookie = int(rest[:-8], 16), rest[-8:]
            files = {}
            for i in range(20):
                fid = f"{vid},{key + i:x}{cookie}"
                files[fid] = os.urandom(3000 + 17 * i)
                status, _, _ = http(
                    "POST", f"{ours.url}/{fid}", files[fid], {"Content-Type": "x/y"}
                )
                assert status == 201
            yield Cluster(go, ours, cold, int(vid), files)
        finally:
            ours.stop()


def _journal(cluster: Cluster) -> list[str]:
    with open(cluster.base(".jnl")) as src:
        return src.read().splitlines()


def test_the_server_runs_the_installed_plugins(cluster: Cluster) -> None:
    assert cluster.ours.binary != shutil.which("seaweed-volume")
    assert len([line for line in _journal(cluster) if line.startswith("put ")]) == 20
    cluster.reads_match()


def test_journal_map_vacuum_rebuilds_its_side_file(cluster: Cluster) -> None:
    doomed = set(list(cluster.files)[:15])
    for fid in doomed:
        assert http("DELETE", f"{cluster.ours.url}/{fid}")[0] == 202
    assert sum(line.startswith("delete ") for line in _journal(cluster)) == 15
    before = cluster.volumes()[cluster.vid]
    output = ""

    def vacuumed() -> bool:
        nonlocal output
        output = shell(
            cluster.go, f"lock\nvolume.vacuum -garbageThreshold=0.1 -volumeId={cluster.vid}\nunlock"
        )
        return cluster.volumes()[cluster.vid]["CompactRevision"] > before["CompactRevision"]

    wait_until(vacuumed, timeout=60, what=f"the vacuum to commit ({output})")
    # The old journal went with the old .idx; the reopened map wrote the compacted one's.
    journal = _journal(cluster)
    assert len(journal) == 5 and all(line.startswith("put ") for line in journal), journal
    cluster.reads_match(deleted=doomed)
    for fid in doomed:
        del cluster.files[fid]


def test_localdir_tier_upload_and_download_with_a_stock_master(cluster: Cluster) -> None:
    dat = cluster.base(".dat")
    original = open(dat, "rb").read()
    output = shell(
        cluster.go,
        f"lock\nvolume.tier.upload -dest=localdir.cold -collection=t -fullPercent=0 "
        f"-quietFor=0s -volumeId={cluster.vid}\nunlock",
    )
    assert not os.path.exists(dat), output
    [key] = os.listdir(cluster.cold)
    assert open(os.path.join(cluster.cold, key), "rb").read() == original
    assert cluster.volumes()[cluster.vid]["RemoteStorageName"] == "localdir.cold"
    cluster.reads_match()

    output = shell(
        cluster.go, f"lock\nvolume.tier.download -collection=t -volumeId={cluster.vid}\nunlock"
    )
    assert open(dat, "rb").read() == original, output
    assert os.listdir(cluster.cold) == []
    cluster.reads_match()


def test_volume_delete_removes_the_journal(cluster: Cluster) -> None:
    assert os.path.exists(cluster.base(".jnl"))
    shell(
        cluster.go,
        f"lock\nvolume.delete -node={cluster.ours.address} -volumeId={cluster.vid}\nunlock",
    )
    wait_until(lambda: cluster.vid not in cluster.volumes(), what="the volume delete")
    left = [n for n in os.listdir(cluster.ours.data_dir) if n.startswith(f"t_{cluster.vid}.")]
    assert left == []


def test_a_stock_master_refuses_a_backend_type_it_was_not_built_with(tmp_path) -> None:
    """Why ``-tierConfig`` exists: ``master.toml`` cannot name a plugin's type."""
    (tmp_path / "master.toml").write_text(
        f'[storage.backend.localdir.cold]\nenabled = true\ndirectory = "{tmp_path}"\n'
    )
    port = free_port_pair()
    result = subprocess.run(
        [weed_binary(), "master", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-port={port}"]
        + [f"-port.grpc={port + 10000}", f"-mdir={tmp_path}", "-peers=none"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "backend storage type localdir not found" in result.stderr + result.stdout
