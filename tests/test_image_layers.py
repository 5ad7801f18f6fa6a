"""Package layers of an image: their order, and build-context bytes that depend on content only.

Unit tests (no engine); the Docker test builds two images that differ in one small package
and checks they share the big package's layer, and that a rebuild from scratch gives the
same package layer digests.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import package
from hypothesis import given, settings
from hypothesis import strategies as st

from landscape.context import resolve
from landscape.digest import tree_size
from landscape.engine.buildcontext import BuildContext, package_payloads
from landscape.errors import LandscapeError
from landscape.imagekey import package_layers
from landscape.recipe import render_dockerfile
from landscape.rezsolve import ResolvedPackage


@dataclass(frozen=True)
class Pkg:
    name: str
    version: str
    size: int


def layers_of(tiers, limit=64):
    return package_layers(tiers, lambda p: p.size, lambda p: (p.name, p.version), limit)


def flat(layers):
    return [p.name for layer in layers for p in layer]


def test_tiers_first_then_heaviest_then_name():
    studio = [Pkg("pipe", "1", 10), Pkg("maya", "2024", 5_000), Pkg("ocio", "2", 10)]
    shot = [Pkg("huge_cache", "1", 90_000), Pkg("fix", "1", 1)]
    layers = layers_of([studio, shot])
    assert all(len(layer) == 1 for layer in layers)
    # a shot's heavy package stays above every studio package: those are shared more
    assert flat(layers) == ["maya", "ocio", "pipe", "huge_cache", "fix"]


def test_more_packages_than_the_limit_share_the_last_layer():
    tier = [Pkg(f"p{i:02d}", "1", 100 - i) for i in range(10)]
    layers = layers_of([tier], limit=4)
    assert [len(layer) for layer in layers] == [1, 1, 1, 7]
    assert flat(layers) == [p.name for p in tier]


names = st.text(alphabet="abcdefghij_0123456789", min_size=1, max_size=6)
pkgs = st.lists(st.builds(Pkg, names, names, st.integers(0, 10**12)), max_size=40,
                unique_by=lambda p: (p.name, p.version))


@settings(max_examples=200, deadline=None)
@given(pkgs, st.randoms(), st.integers(1, 70))
def test_layers_depend_on_the_packages_only_never_on_their_order(packages, rnd, limit):
    split = len(packages) // 2
    tiers = [packages[:split], packages[split:]]
    shuffled = [rnd.sample(t, len(t)) for t in tiers]
    layers = layers_of(tiers, limit)
    assert layers == layers_of(shuffled, limit)
    assert len(layers) <= limit
    assert sorted(repr(p) for layer in layers for p in layer) == sorted(map(repr, packages))
    own = [p for layer in layers if len(layer) == 1 for p in layer]
    for tier in tiers:  # within a tier, layers of their own go heaviest first
        sizes = [p.size for p in own if p in tier]
        assert sizes == sorted(sizes, reverse=True)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.builds(Pkg, names, names, st.integers(0, 10**12)), max_size=40,
                unique_by=lambda p: p.name), st.integers(0, 39))
def test_a_bumped_package_changes_no_layer_below_it(packages, which):
    if not packages:
        return
    bumped = list(packages)
    old = bumped[which % len(packages)]
    bumped[which % len(packages)] = Pkg(old.name, old.version + "x", old.size)
    before, after = layers_of([packages]), layers_of([bumped])
    below = flat(after).index(old.name)
    assert before[:below] == after[:below]


def payload_tree(root: Path, mode_bits: int, mtime: int) -> Path:
    """A package folder with a file, an executable, a symlink, a subfolder, byte-code."""
    pkg = package(root, "tool", "1.0")
    (pkg / "bin").mkdir()
    (pkg / "bin/run").write_text("#!/bin/sh\n")
    (pkg / "bin/run").chmod(0o700 | mode_bits)
    (pkg / "data.txt").write_text("payload\n")
    (pkg / "data.txt").chmod(0o600 | (mode_bits & 0o066))
    (pkg / "link").symlink_to("data.txt")
    (pkg / "__pycache__").mkdir()
    (pkg / "__pycache__/x.pyc").write_bytes(b"\0")
    for dirpath, dirnames, filenames in os.walk(pkg):
        for name in dirnames + filenames:
            os.utime(os.path.join(dirpath, name), (mtime, mtime), follow_symlinks=False)
    return pkg


def tar_bytes(folder: Path, payloads) -> bytes:
    return b"".join(BuildContext(folder, payloads).chunks())


def test_the_same_content_gives_the_same_tar_bytes(tmp_path):
    (tmp_path / "empty").mkdir()
    one = payload_tree(tmp_path / "a", 0o055, 1_000_000)
    two = payload_tree(tmp_path / "b", 0o000, 1_700_000_000)
    arc = "packages/0/landscape/packages/tool/1.0"
    data = tar_bytes(tmp_path / "empty", [(arc, str(one))])
    assert data == tar_bytes(tmp_path / "empty", [(arc, str(two))])
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert list(members)[:5] == ["packages", "packages/0", "packages/0/landscape",
                                     "packages/0/landscape/packages",
                                     "packages/0/landscape/packages/tool"]
        assert all(m.mtime == 0 and m.uid == m.gid == 0 and not m.uname for m in members.values())
        assert members[arc + "/bin/run"].mode == 0o755
        assert members[arc + "/data.txt"].mode == 0o644
        assert members[arc + "/link"].issym() and members[arc + "/link"].linkname == "data.txt"
        assert not any("__pycache__" in n for n in members)
        assert tar.extractfile(arc + "/data.txt").read() == b"payload\n"


def test_special_files_are_left_out(tmp_path):
    (tmp_path / "empty").mkdir()
    pkg = package(tmp_path / "repo", "tool", "1.0")
    os.mkfifo(pkg / "fifo")  # a hostile repository's fifo must not hang the build
    context = BuildContext(tmp_path / "empty", [("p/tool/1.0", str(pkg))])
    assert "p/tool/1.0/fifo" not in context.names()
    with tarfile.open(fileobj=io.BytesIO(b"".join(context.chunks()))) as tar:
        assert tar.getnames() == ["p", "p/tool", "p/tool/1.0", "p/tool/1.0/package.py"]


def changing(monkeypatch, name: str, change) -> None:
    """Run ``change(path)`` on the file listed as ``name`` right after its header."""
    from landscape.engine import buildcontext

    real = buildcontext._tarinfo

    def tarinfo(arcname, path):
        info = real(arcname, path)
        if arcname == name:
            change(Path(path))
        return info

    monkeypatch.setattr(buildcontext, "_tarinfo", tarinfo)


def test_a_file_that_shrinks_while_streamed_keeps_the_tar_valid(tmp_path, monkeypatch):
    (tmp_path / "empty").mkdir()
    pkg = package(tmp_path / "repo", "tool", "1.0")
    (pkg / "big").write_bytes(b"x" * 5000)
    changing(monkeypatch, "p/big", lambda path: path.write_bytes(b"y" * 10))
    data = b"".join(BuildContext(tmp_path / "empty", [("p", str(pkg))]).chunks())
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        assert tar.extractfile("p/big").read() == b"y" * 10 + bytes(4990)
        assert tar.extractfile("p/package.py").read().startswith(b'name = "tool"')


def test_a_file_that_vanishes_while_streamed_is_named(tmp_path, monkeypatch):
    (tmp_path / "empty").mkdir()
    pkg = package(tmp_path / "repo", "tool", "1.0")
    (pkg / "gone").write_text("x")
    changing(monkeypatch, "p/gone", Path.unlink)
    with pytest.raises(LandscapeError, match="cannot read .*gone"):
        b"".join(BuildContext(tmp_path / "empty", [("p", str(pkg))]).chunks())


def test_example_image_layers_one_per_package(example):
    spec = resolve(example / "projects/lighthouse/seq010/sh020").image
    payloads = package_payloads(spec)
    assert [a.rsplit("/", 2)[1] for a, _ in payloads] == ["studio_pipeline", "blender", "python"]
    sizes = [tree_size(src) for _, src in payloads]
    assert sizes == sorted(sizes, reverse=True)
    text = render_dockerfile(spec)
    assert [line for line in text.splitlines() if line.startswith("COPY packages/")] == [
        f"COPY packages/{i}/ /" for i in range(3)]


def test_a_package_name_that_is_not_a_folder_name_is_refused(example):
    spec = resolve(example / "projects/lighthouse/seq010/sh020").image
    spec.packages[0] = dataclasses.replace(spec.packages[0], version="..")
    with pytest.raises(LandscapeError, match="cannot name a folder"):
        package_payloads(spec)


class OnePackage:
    """Just enough of an ImageSpec for :func:`package_payloads`."""

    def __init__(self, name: str, version: str) -> None:
        self.package = ResolvedPackage(name, version, None, "/repo", "/repo/x", "/repo/x", "")

    def layers(self):
        return [[self.package]]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=12), st.text(max_size=12))
def test_payload_paths_never_leave_their_folder(name, version):
    try:
        [(arcname, _)] = package_payloads(OnePackage(name, version))
    except LandscapeError:
        return
    folder = [name, version] if version else [name]  # an unversioned package: NAME only
    assert arcname.split("/") == ["packages", "0", "landscape", "packages", *folder]
    assert name not in (".", "..") and version not in (".", "..")


# --- Docker ---------------------------------------------------------------------------

LABEL = "org.example.landscape-test-layers"


def two_images_studio(root: Path, run: str) -> list[Path]:
    repo = root / "packages"
    package(repo, "python", "3.11")
    big = package(repo, "bigdcc", "1.0")
    (big / "payload.bin").write_bytes(hashlib.sha256(b"seed").digest() * (3 << 15))  # 3 MiB
    for v in ("1", "2"):
        (package(repo, "tweak", v) / "tweak.txt").write_text(v * 100)
    (root / "landscape.yaml").write_text(
        "root: true\nrez: {packages_path: [packages]}\npackages: [python-3.11, bigdcc]\n"
        f"image: {{labels: {{{LABEL}: {run}}}}}\ntools: {{py: {{command: [python3]}}}}\n")
    shots = []
    for v in ("1", "2"):
        shot = root / f"sh{v}"
        shot.mkdir()
        (shot / "landscape.yaml").write_text(f"packages: [tweak-{v}]\n")
        shots.append(shot)
    return shots


@pytest.mark.docker
def test_images_differing_in_a_small_package_share_the_big_layer(base_image, tmp_path,
                                                                 docker_engine):
    from landscape.engine.images import build_image

    run = f"t{os.getpid()}"
    shots = two_images_studio(tmp_path / "studio", run)
    specs = [resolve(s).image for s in shots]
    try:
        ids = [build_image(s, log=lambda line: None).id for s in specs]
        a, b = (docker_engine.images.get(i).attrs["RootFS"]["Layers"] for i in ids)
        payloads = package_payloads(specs[0])
        assert [p.rsplit("/", 2)[1] for p, _ in payloads] == ["bigdcc", "tweak", "python"]
        first = len(a) - 2 - len(payloads)  # then landscape/ and the bake step
        shared = next(i for i, (x, y) in enumerate(zip(a, b)) if x != y)
        assert shared == first + 1  # base, OS, rez and bigdcc's layer shared; tweak differs
        # built again from nothing, the package layers have the same digests
        for i in ids:
            docker_engine.images.remove(i, force=True)
        again = docker_engine.images.get(build_image(specs[0], log=lambda line: None,
                                                     no_cache=True).id)
        c = again.attrs["RootFS"]["Layers"]
        assert c[first:first + len(payloads)] == a[first:first + len(payloads)]
    finally:
        for image in docker_engine.images.list(filters={"label": f"{LABEL}={run}"}):
            docker_engine.images.remove(image.id, force=True)


def test_a_payload_linked_out_of_its_repository_is_never_streamed(tmp_path):
    """A version folder swapped for a link after the resolve (or a link planted in a
    repository) never brings files from elsewhere into the build context."""
    from landscape.engine.buildcontext import package_payloads
    from landscape.imagekey import ImageSpec
    from landscape.rezsolve import ResolvedPackage

    repo = tmp_path / "repo"
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "data").write_text("TOPSECRET")
    (repo / "evil").mkdir(parents=True)
    (repo / "evil/1.0").symlink_to(secret)
    p = ResolvedPackage("evil", "1.0", None, str(repo), str(repo / "evil/1.0"),
                        str(repo / "evil/1.0"), "x")
    spec = ImageSpec(project="p", base="landscape/base:bookworm", system_packages=[],
                     rez_version="3.4.0", packages=[p], tools={".context": ["evil==1.0"]},
                     repositories=[str(repo)])
    with pytest.raises(LandscapeError, match="outside its repository"):
        package_payloads(spec)
