"""Landscape images in a real registry (``landscape.engine.registry``).

The Docker tests (marked ``docker``: they fail, never skip, without an engine) run a real
``docker-registry`` (Debian's distribution 2.8) on 127.0.0.1 with its storage in a temporary
folder; the engine treats 127.0.0.0/8 registries as plain-HTTP ones, so no TLS is needed.

They push the example studio's image (session fixture ``built``) and never remove it: the
other Docker tests of the session use it. To pull into a state where ``find_image`` finds
nothing, the tests make **variant specs**: the example spec with a throwaway project name and
one extra ``image.labels`` entry. The label is part of the image key, so the variant has a
key no other image carries (``find_image`` cannot fall back on the example image's key
label), while its build is every step of the example image's build from the cache plus a new
final config — seconds, no bytes of layer data, and an image id of its own. Removing the
variant's own tags removes only that config; every layer stays referenced by the example
image. Every tag the tests create is recorded and removed by its exact reference at the end.
"""

from __future__ import annotations

import dataclasses
import json
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import free_port, serve_registry  # the `registry` fixture is in conftest.py
from landscape import grammar
from landscape.errors import EngineError, LandscapeError

TIMINGS: dict[str, object] = {}


# -- fixtures ---------------------------------------------------------------------------------

def http_json(url: str, accept: str | None = None) -> dict:
    req = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


@pytest.fixture(scope="module")
def created(docker_engine):
    """References (tags) the tests created; each is removed by its exact name afterwards.
    Removing an extra tag of the example image only untags it; removing a variant's last tag
    deletes it and the parents only it had (its LABEL steps: shared parents have other
    children, which the engine never deletes)."""
    refs: list[str] = []
    yield refs
    import docker

    for ref in reversed(refs):
        try:
            docker_engine.images.remove(ref)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as e:  # still used by a container: leave it
            print(f"could not remove {ref}: {e}")


@pytest.fixture(scope="module")
def specs(built):
    """The example project's image specs, ``(sh010's, sh020's)`` — the two differ by one
    package: sh020 pins studio_pipeline-1.0, the project 1.1."""
    from landscape.plan import make_plan

    studio, _ = built
    plan = make_plan(studio / "projects/lighthouse")
    by_context = {Path(c.path).name: im.spec for im in plan.images.values()
                  for c in im.contexts if not c.variants}
    return by_context["sh010"], by_context["sh020"]


@pytest.fixture(scope="module")
def spec(specs):
    return specs[0]


@pytest.fixture(scope="module")
def pushed(spec, registry, created):
    """The example image pushed: ``(digest, log lines)``."""
    from landscape.engine.registry import push_image, registry_reference

    lines: list[str] = []
    started = time.monotonic()
    created.append(registry_reference(spec, registry))
    digest = push_image(spec, registry, log=lines.append)
    TIMINGS["push example image (s)"] = round(time.monotonic() - started, 2)
    return digest, lines


def variant(spec, token: str, project: str | None = None):
    """``spec`` with project ``project`` (default: a throwaway name) and one extra label —
    a new key whose build is fully cached (see the module doc)."""
    return dataclasses.replace(spec, project=project or f"regtest-{token}",
                               labels={**spec.labels, "com.example.regtest": token}, key="")


@pytest.fixture(scope="module")
def pulled(spec, registry, created, pushed, docker_engine):
    """A variant image pushed, its local tags removed, then brought back by ``ensure_image``.
    Returns ``(variant spec, pushed digest, ensure_image result, image)``."""
    from landscape.engine.images import build_image, find_image
    from landscape.engine.registry import ensure_image, push_image, registry_reference

    v = variant(spec, uuid.uuid4().hex[:8])
    ref = registry_reference(v, registry)
    created.extend([v.tag, ref])
    built = build_image(v, log=lambda line: None)
    example_id = find_image(spec).id
    assert built.id != example_id  # its own image: removing its tags cannot touch spec's
    digest = push_image(v, registry, log=lambda line: None)
    for r in (ref, v.tag):  # exactly the references this fixture created; the last one
        docker_engine.images.remove(r)  # deletes the variant and its own LABEL-step parents
    assert find_image(v, tag=False) is None
    assert find_image(spec).id == example_id
    lines: list[str] = []
    result = ensure_image(v, registry=registry, build=False, log=lines.append)
    TIMINGS["ensure_image pull of a variant (s)"] = result.seconds
    return v, digest, result, docker_engine.images.get(v.tag), lines


# -- 1. push ----------------------------------------------------------------------------------

@pytest.mark.docker
def test_push_returns_the_digest_the_registry_holds(spec, registry, pushed, docker_engine):
    from landscape.engine.registry import registry_reference, remote_digest

    digest, lines = pushed
    assert digest.startswith("sha256:") and len(digest) == 71
    assert remote_digest(spec, registry) == digest
    project_repo = spec.tag.rpartition(":")[0]
    tags = http_json(f"http://{registry}/v2/{project_repo}/tags/list")
    assert tags["name"] == project_repo and spec.short in tags["tags"]
    ref = registry_reference(spec, registry)
    assert ref == f"{registry}/landscape/lighthouse:{spec.short}"
    repo = ref.rpartition(":")[0]
    assert f"{repo}@{digest}" in docker_engine.images.get(spec.tag).attrs["RepoDigests"]
    # compact progress: layer end states and the summary, no progress bars
    assert lines and all("\n" not in ln and len(ln) < 300 for ln in lines)
    assert not any("Pushing" in ln or "[=" in ln for ln in lines)
    assert any(ln.endswith(": Pushed") for ln in lines)


@pytest.mark.docker
def test_ensure_image_finds_the_local_image_first(spec, registry, pushed):
    from landscape.engine.registry import ensure_image

    digest, _ = pushed
    r = ensure_image(spec, registry=registry, build=False, log=lambda line: None)
    assert r.source == "local" and r.tag == spec.tag and r.key == spec.key
    assert r.digest == digest  # the local image was pushed there
    assert ensure_image(spec, registry=None, log=lambda line: None).digest is None


@pytest.mark.docker
def test_remote_digest_is_none_for_what_the_registry_lacks(spec, registry, pushed):
    from landscape.engine.registry import remote_digest

    assert remote_digest(variant(spec, "absent"), registry) is None  # unknown repository
    assert remote_digest(variant(spec, "absent2", project=spec.project), registry) is None


# -- 2. pull ----------------------------------------------------------------------------------

@pytest.mark.docker
def test_ensure_image_pulls_an_image_that_is_not_local(pulled, registry):
    from landscape.engine.images import find_image
    from landscape.recipe import image_labels

    v, digest, result, image, lines = pulled
    assert result.source == "pulled" and result.digest == digest
    assert result.tag == v.tag and result.key == v.key
    repo = f"{registry}/{v.tag.rpartition(':')[0]}"
    assert f"{repo}@{digest}" in image.attrs["RepoDigests"]
    assert v.tag in image.tags
    found = find_image(v)
    assert found is not None and found.id == image.id
    assert all(image.labels.get(k) == val for k, val in image_labels(v).items())
    assert not any(ln.startswith("Step ") for ln in lines)  # nothing was built
    assert any("bytes downloaded" in ln for ln in lines)


@pytest.mark.docker
def test_builds_take_their_cache_from_the_projects_pulled_images(pulled, spec, registry,
                                                                created, docker_engine,
                                                                monkeypatch):
    """The variant came from the registry, so it has no local parents: only ``cache_from``
    lets a build reuse its layers. ``ensure_image`` of another key of its project (in no
    registry) builds it with ``cache_from`` = the pulled image, and every layer of the final
    stage is reused (the ``fetch`` stage, in no image's history, runs again)."""
    from landscape.engine import registry as reg
    from landscape.engine.images import ImageResult
    from landscape.engine.registry import build_cache_sources, ensure_image, project_images

    v, _, _, image, _ = pulled
    layers = image.attrs["RootFS"]["Layers"]
    assert project_images(v.project) == [v.tag]
    assert image.attrs.get("Parent", "") == ""  # pulled: no local build chain
    assert build_cache_sources(v.project) == [v.tag]
    assert build_cache_sources(spec.project) is None  # built here: the whole local cache
    builds: list[tuple[dict, ImageResult]] = []

    def spy(s, **kwargs):
        builds.append((kwargs, reg.build_image.__wrapped__(s, **kwargs)))
        return builds[-1][1]

    spy.__wrapped__ = reg.build_image
    monkeypatch.setattr(reg, "build_image", spy)
    w = variant(v, uuid.uuid4().hex[:8], project=v.project)
    created.append(w.tag)
    r = ensure_image(w, registry=registry, log=lambda line: None)
    assert r.source == "built" and r.digest is None and r.tag == w.tag
    (kwargs, built), = builds
    assert kwargs["cache_from"] == [v.tag] and built.cached_steps > 0
    assert docker_engine.images.get(w.tag).attrs["RootFS"]["Layers"] == layers, built
    assert build_cache_sources(v.project) is None  # w was built here
    TIMINGS["ensure_image build with cache_from=[pulled image] (s)"] = r.seconds
    TIMINGS["  its cached steps / steps"] = f"{built.cached_steps}/{built.steps}"


# -- 3. digest mismatch and foreign images ----------------------------------------------------

def local_state(client, *refs: str) -> dict[str, str | None]:
    """The image id each of ``refs`` names (``None``: absent). Only references the tests
    own are compared: another session may build or tag its own images meanwhile."""
    from landscape.engine.docker import get_image

    out = {}
    for ref in refs:
        image = get_image(ref)
        out[ref] = image.id if image is not None else None
    return out


@pytest.mark.docker
def test_a_digest_other_than_the_locks_is_refused(spec, registry, pushed, docker_engine,
                                                  monkeypatch):
    from landscape.engine import registry as reg
    from landscape.engine.registry import pull_image, registry_reference

    digest, _ = pushed
    ref = registry_reference(spec, registry)
    lock = "sha256:" + "0" * 64
    tags = sorted(docker_engine.images.get(spec.tag).tags)
    # 1. the registry reference was there before the pull: it stays, nothing is removed
    before = local_state(docker_engine, spec.tag, ref)
    assert before[ref] == before[spec.tag]
    with pytest.raises(EngineError) as e:
        pull_image(spec, registry, expected_digest=lock, log=lambda line: None)
    msg = str(e.value)
    assert "\n" not in msg and len(msg) < 500
    assert f"digest mismatch: registry has {digest}, the lock says {lock}" in msg
    assert local_state(docker_engine, spec.tag, ref) == before
    assert sorted(docker_engine.images.get(spec.tag).tags) == tags
    # 2. it was not: the pull's tag is taken back, the image itself stays (spec.tag keeps it)
    docker_engine.images.remove(ref, noprune=True)
    before = local_state(docker_engine, spec.tag, ref)
    assert before[ref] is None
    with pytest.raises(EngineError, match="digest mismatch"):
        pull_image(spec, registry, expected_digest=lock, log=lambda line: None)
    assert local_state(docker_engine, spec.tag, ref) == before
    # 3. the tag moves between the registry's answer and the pull: the pulled image's
    #    RepoDigests are checked too, and the tag the pull made is taken back
    lines: list[str] = []
    with monkeypatch.context() as m:
        m.setattr(reg, "remote_digest", lambda s, r: lock)
        with pytest.raises(EngineError) as e:
            pull_image(spec, registry, expected_digest=lock, log=lines.append)
    assert f"digest mismatch: registry has {digest}, the lock says {lock}" in str(e.value)
    assert any(ln.startswith("pulled ") for ln in lines)  # it did pull
    assert local_state(docker_engine, spec.tag, ref) == before
    with pytest.raises(LandscapeError, match="not sha256"):
        pull_image(spec, registry, expected_digest="sha256:$(x)\n", log=lambda line: None)
    # and the right digest passes
    image = pull_image(spec, registry, expected_digest=digest, log=lambda line: None)
    assert spec.tag in image.tags and ref in image.tags


@pytest.mark.docker
def test_an_image_with_other_labels_is_not_the_specs(pulled, registry, created, docker_engine):
    """A registry tag holding another build (different ``io.landscape.inputs``) is refused."""
    from landscape.engine.images import find_image
    from landscape.engine.registry import pull_image, registry_reference

    v, _, _, image, _ = pulled
    impostor = variant(v, uuid.uuid4().hex[:8], project=v.project)  # another key, same project
    ref = registry_reference(impostor, registry)
    repo, tag = ref.rpartition(":")[::2]
    created.append(ref)
    image.tag(repo, tag)
    for event in docker_engine.api.push(repo, tag=tag, stream=True, decode=True):
        assert "error" not in event, event
    docker_engine.images.remove(ref, noprune=True)
    before = local_state(docker_engine, v.tag, ref, impostor.tag)
    assert before[ref] is None and before[v.tag] == image.id
    with pytest.raises(EngineError) as e:
        pull_image(impostor, registry, log=lambda line: None)
    msg = str(e.value)
    assert "\n" not in msg and "io.landscape.inputs" in msg and "io.landscape.key" in msg
    assert local_state(docker_engine, v.tag, ref, impostor.tag) == before
    assert find_image(impostor, tag=False) is None


@pytest.mark.docker
def test_neither_local_nor_in_the_registry_without_build_is_an_error(spec, registry, pushed):
    from landscape.engine.registry import ensure_image

    v = variant(spec, uuid.uuid4().hex[:8])
    with pytest.raises(EngineError, match="neither in the Docker engine nor in registry"):
        ensure_image(v, registry=registry, build=False, log=lambda line: None)
    with pytest.raises(EngineError, match="neither"):
        ensure_image(v, registry=None, build=False, log=lambda line: None)


# -- 4. a registry that does not answer -------------------------------------------------------

@pytest.mark.docker
def test_a_registry_that_does_not_answer_is_one_line_fast(spec, docker_engine):
    from landscape.engine.registry import push_image, registry_reference, remote_digest

    dead = f"127.0.0.1:{free_port()}"
    ref = registry_reference(spec, dead)
    before = local_state(docker_engine, spec.tag, ref)
    assert before[ref] is None
    for call in (lambda: push_image(spec, dead, log=lambda line: None),
                 lambda: remote_digest(spec, dead)):
        started = time.monotonic()
        with pytest.raises(EngineError) as e:
            call()
        took = time.monotonic() - started
        TIMINGS.setdefault("dead registry errors (s)", []).append(round(took, 3))
        assert took < 10
        msg = str(e.value)
        assert "\n" not in msg and len(msg) <= 300 and "connection refused" in msg, msg
        assert "Traceback" not in msg and "{" not in msg
    assert local_state(docker_engine, spec.tag, ref) == before  # the push took its tag back


def bcrypt_htpasswd(user: str, password: str) -> str:
    """An htpasswd line with a bcrypt hash (the only kind docker-registry accepts), from the
    C library's crypt(3) (libxcrypt) through Python's ``crypt`` module (Python < 3.13)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            import crypt
        except ImportError:
            pytest.skip("no crypt module (Python >= 3.13) to make a bcrypt htpasswd")
    hashed = crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH))
    assert hashed and hashed.startswith("$2"), "crypt(3) has no bcrypt here"
    return f"{user}:{hashed}"


@pytest.mark.docker
def test_a_registry_that_wants_credentials_is_one_line(spec, tmp_path_factory, docker_engine):
    from landscape.engine.registry import (ensure_image, pull_image, push_image,
                                           registry_reference, remote_digest)

    with serve_registry(tmp_path_factory, bcrypt_htpasswd("artist", uuid.uuid4().hex)) as locked:
        ref = registry_reference(spec, locked)
        before = local_state(docker_engine, spec.tag, ref)
        for call in (lambda: push_image(spec, locked, log=lambda line: None),
                     lambda: remote_digest(spec, locked),
                     lambda: pull_image(spec, locked, log=lambda line: None),
                     lambda: ensure_image(variant(spec, "auth"), registry=locked, build=False,
                                          log=lambda line: None)):
            with pytest.raises(EngineError) as e:
                call()
            msg = str(e.value)
            assert "\n" not in msg and len(msg) <= 400, msg
            assert "no basic auth credentials" in msg and f"docker login {locked}" in msg
        assert local_state(docker_engine, spec.tag, ref) == before


# -- 1b. what a pull of an image differing by one package moves --------------------------------

@pytest.mark.docker
def test_an_image_differing_by_one_package_shares_all_but_its_last_layers(
        specs, registry, pushed, created):
    """Measured from the registry's manifests: the blobs of sh020's image that sh010's does
    not hold are all a machine holding sh010's image downloads to pull it."""
    from landscape.engine.registry import push_image, registry_reference

    a, b = specs
    created.append(registry_reference(b, registry))
    push_image(b, registry, log=lambda line: None)
    accept = "application/vnd.docker.distribution.manifest.v2+json"

    def manifest(s):
        return http_json(f"http://{registry}/v2/{s.tag.rpartition(':')[0]}/manifests/{s.short}",
                         accept)

    ma, mb = manifest(a), manifest(b)
    have = {layer["digest"] for layer in ma["layers"]}
    moved = [layer for layer in mb["layers"] if layer["digest"] not in have]
    total = sum(layer["size"] for layer in mb["layers"])
    delta = sum(layer["size"] for layer in moved) + mb["config"]["size"]
    TIMINGS["sh020 image, compressed bytes (total)"] = total
    TIMINGS["sh020 pull with sh010 local, bytes"] = delta
    TIMINGS["sh020 layers not in sh010"] = len(moved)
    assert 0 < len(moved) < len(mb["layers"]) and delta < total / 20


@pytest.fixture(scope="module", autouse=True)
def _report_timings():
    yield
    if TIMINGS:
        print("\nregistry measurements: " + json.dumps(TIMINGS))


# -- 5. the registry grammar (no Docker) ------------------------------------------------------

GOOD = ["127.0.0.1:5000", "localhost", "localhost:5000", "registry.example.com",
        "registry.example.com:443", "reg.example/studio", "reg.example:5000/studio/images",
        "a.b/c__d/e-f", "[::1]:5000", "[2001:db8::1]", "10.0.0.1", "myregistry:5000",
        "xn--bcher-kva.example"]
BAD = ["", "evil.com/$(x)", "evil.com\n", "evil.com\nFROM scratch", "Registry.example.com",
       "REG.EXAMPLE", "http://reg.example", "https://reg.example:5000", "reg.example/",
       "myregistry", "studio", "reg.example:0", "reg.example:65536", "reg.example:5000:1",
       "999.1.1.1", "1.2.3", "01.2.3.4", "[::1%eth0]:5000", "[zz]", "[::1]x", "a..b",
       "-a.example", "a-.example", "reg.example/Studio", "reg.example//x", "user@reg.example",
       "reg.example?x=1", " reg.example", "reg.example ", "reg.example/a:tag",
       "reg.example/a@sha256:" + "0" * 64, "reg.example\x00", "reg.example\t", "ｒeg.example",
       "a" * 64 + ".example", ".".join(["a" * 60] * 5), None, 5000, b"reg.example"]


@pytest.mark.parametrize("text", GOOD)
def test_is_registry_accepts(text):
    assert grammar.is_registry(text)


@pytest.mark.parametrize("text", BAD)
def test_is_registry_refuses(text):
    assert not grammar.is_registry(text)


def _spec(project: str):
    from landscape.imagekey import ImageSpec

    return ImageSpec(project=project, base="landscape/base:bookworm", system_packages=[],
                     rez_version="3.4.0", packages=[], tools={})


def test_registry_reference_is_the_registry_before_the_tag():
    from landscape.engine.registry import registry_reference

    s = _spec("Light House")
    assert registry_reference(s, "reg.example:5000/studio") == \
        f"reg.example:5000/studio/landscape/light-house:{s.short}"
    for bad in ("evil.com/$(x)", "http://reg.example", "reg.example\n", ""):
        with pytest.raises(LandscapeError) as e:
            registry_reference(s, bad)
        assert "\n" not in str(e.value)
    with pytest.raises(LandscapeError, match="IPv6"):  # Docker 20.10 has no IPv6 references
        registry_reference(s, "[::1]:5000")


_label = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True)
_hosts = st.one_of(
    st.lists(_label, min_size=1, max_size=4).map(".".join),
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(lambda a: f"[{a}]"),
    st.just("localhost"))
_registries = st.one_of(
    st.text(max_size=40),
    st.tuples(_hosts, st.one_of(st.none(), st.integers(-1, 70000)),
              st.lists(st.from_regex(r"[a-z0-9]+([._-][a-z0-9]+)?", fullmatch=True),
                       max_size=3),
              st.sampled_from(["", "", "/", "\n", " ", "$(x)", "A", ":", "@x"]))
    .map(lambda t: t[0] + ("" if t[1] is None else f":{t[1]}") +
         "".join("/" + p for p in t[2]) + t[3]))


@settings(max_examples=400, deadline=None)
@given(registry=_registries, project=st.text(max_size=30))
def test_registry_reference_is_an_image_reference_or_refused(registry, project):
    from landscape.engine.registry import registry_reference

    s = _spec(project)
    try:
        ref = registry_reference(s, registry)
    except LandscapeError as e:
        assert "\n" not in str(e)
        return
    assert grammar.is_registry(registry)
    assert grammar.is_image_reference(ref)
    assert ref == f"{registry}/{s.tag}"


def test_a_launch_builds_its_image_as_build_does(example, monkeypatch):
    """The image a launch (or ``up``) has to build gets the studio's label (what ``prune``
    and the test session's cleanup go by) and the root's CA bundle and apt mirror, as
    ``landscape build`` gives them."""
    from landscape.context import resolve
    from landscape.engine import delivery, registry as reg
    from landscape.engine.buildcontext import studio_id

    seen = {}
    monkeypatch.setattr(reg, "ensure_image", lambda spec, **kw: seen.update(kw))
    rc = resolve(example / "projects/lighthouse/seq010/sh020", tool="blender")
    settings = {"registry": None, "ca_certificates": "/studio/ca.pem",
                "apt_mirror": "http://mirror.studio/debian"}
    delivery.ensure_context_image(rc.image, rc.cascade.project_dir, None,
                                  root=rc.cascade.root, settings=settings)
    options = seen["options"]
    assert options.studio == studio_id(example)
    assert (options.ca_certificates, options.apt_mirror) == ("/studio/ca.pem",
                                                             "http://mirror.studio/debian")
