"""``landscape.lock``: everything that enters a project's images, pinned (docs/locking.md).

The lock is canonical JSON (keys sorted, two-space indent, a trailing newline, no time
stamps): unchanged inputs give a byte-identical file, and a change reads as a small diff.
It is filled in two phases:

1. **inputs** — :func:`make_lock`, from a :class:`~landscape.plan.BuildPlan`, needs no
   engine: Landscape's version and image recipe digest, each rez version, every rez package
   (version, variant, repository relative to the studio root, content digest), each image's
   OS package *requests*, tools and packages, and every context (and variant) → its image
   key.
2. **observed** — filled from images the engine holds (by ``build`` or ``lock
   --from-images``, :mod:`landscape.engine.pins`): each base image's content fingerprint
   and OS packages, each image's OS packages beyond its base at the exact versions apt chose
   (``dpkg-query``), the rez wheel's sha256, and the registry digests of pushed images.

Observed values are carried over from the previous lock as long as what they describe is
unchanged (same image key, same base reference). ``build --locked`` needs both phases.

Image keys, package digests and this file use the same content digests
(:mod:`landscape.digest`): a key depends only on content, never on paths, modes or install.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import __version__
from .errors import LandscapeError, Location

LOCK_NAME = "landscape.lock"
#: The format this Landscape writes and reads; a lock of a higher format is refused.
LOCK_FORMAT = 1


class LockError(LandscapeError):
    """A lock that cannot be used: missing, unreadable, malformed, from a newer Landscape,
    stale or incomplete. ``str()`` names the lock's ``file:line`` where there is one."""


# -- building --------------------------------------------------------------------------


def context_label(project_dir: Path, path: Path, variants: tuple[str, ...] = ()) -> str:
    """A context's name in the lock: its path relative to the project (``seq010/sh020``,
    ``.`` for the project itself), then `` [variant]`` for each variant."""
    try:
        rel = path.relative_to(project_dir).as_posix() or "."
    except ValueError:
        rel = path.as_posix()
    return rel + "".join(f" [{v}]" for v in variants)


def _repository(root: Path, repository: str) -> str:
    """A repository as the lock names it: relative to the studio root when inside it (the
    same on every checkout), else its absolute path."""
    real_root, real_repo = os.path.realpath(root), os.path.realpath(repository)
    if real_repo == real_root or real_repo.startswith(real_root + os.sep):
        return os.path.relpath(real_repo, real_root).replace(os.sep, "/")
    return real_repo


def package_entry_name(root: Path, qualified: str, repository: str) -> str:
    """The name of a package's entry under the lock's ``packages``:
    ``name-version@repository`` (the repository as :func:`_repository` names it)."""
    return f"{qualified}@{_repository(root, repository)}"


def make_lock(plan: Any, project_dir: Path, previous: dict | None = None) -> dict:
    """The lock of ``plan`` (a :class:`~landscape.plan.BuildPlan` of the project at
    ``project_dir``): the inputs phase, with the observed phase of ``previous`` carried over
    where it still applies. Contexts that failed to resolve are left out (the caller reports
    them). Returns the lock as plain data (see docs/locking.md for its shape)."""
    from .digest import tree_digest
    from .imagekey import recipe_digest

    prev = previous or {}
    prev_images = prev.get("images") or {}
    prev_bases = prev.get("bases") or {}
    prev_rez = prev.get("rez") or {}
    root = plan.cascade.root if plan.cascade is not None else None
    contexts: dict[str, str] = {}
    images: dict[str, dict] = {}
    packages: dict[str, dict] = {}
    bases: dict[str, dict] = {}
    rez: dict[str, dict] = {}
    for pc in plan.contexts:
        if pc.image is None:
            continue
        contexts[context_label(project_dir, pc.path, pc.variants)] = pc.image.key
    for key, im in plan.images.items():
        spec = im.spec
        entry: dict[str, Any] = {
            "tag": spec.tag,
            "base": spec.base,
            "rez": spec.rez_version,
            "system_packages": sorted(spec.system_packages),
            "packages": sorted(p.qualified for p in spec.packages),
            "tools": {t: list(r) for t, r in sorted(spec.tools.items())},
            "os_packages": None,
            "pushed": {},
        }
        old = prev_images.get(key)
        if isinstance(old, dict):
            entry["os_packages"] = old.get("os_packages")
            entry["pushed"] = old.get("pushed") or {}
        images[key] = entry
        old_base = prev_bases.get(spec.base)
        bases[spec.base] = old_base if isinstance(old_base, dict) else \
            {"fingerprint": None, "os_packages": None}
        old_rez = prev_rez.get(spec.rez_version)
        rez[spec.rez_version] = old_rez if isinstance(old_rez, dict) else \
            {"wheel": None, "sha256": None}
        for p in spec.packages:
            name = package_entry_name(root or project_dir, p.qualified, p.repository)
            packages[name] = {"name": p.name, "version": p.version, "variant": p.variant,
                              "repository": _repository(root or project_dir, p.repository),
                              "digest": "sha256:" + tree_digest(p.base)}
            if spec.is_mounted(p):  # its payload is mounted at launch, checked against this
                packages[name]["delivery"] = "mount"
    return {
        "format": LOCK_FORMAT,
        "landscape": {"version": __version__, "recipe": "sha256:" + recipe_digest()},
        "project": plan.contexts[0].image.project if plan.contexts and
        plan.contexts[0].image is not None else project_dir.name,
        "bases": bases,
        "rez": rez,
        "packages": packages,
        "images": images,
        "contexts": contexts,
    }


def dumps(lock: dict) -> str:
    """The canonical text of ``lock``: sorted keys, two-space indent, ASCII only, ``\\n``
    line ends, one trailing newline."""
    return json.dumps(lock, indent=2, sort_keys=True, ensure_ascii=True) + "\n"


def write_lock(path: Path, lock: dict) -> bool:
    """Write ``lock`` to ``path`` atomically unless the file already holds exactly that text;
    returns whether it was written. A copy of each new revision is kept under
    ``<studio root>/.landscape/locks/<project>/`` when the studio root is known (``prune
    --keep N`` keeps the images of the last N revisions)."""
    from .resources import atomic_write

    text = dumps(lock)
    try:
        if path.read_text() == text:
            return False
    except OSError:
        pass
    atomic_write(path, text)
    return True


# -- reading ---------------------------------------------------------------------------

#: A lock larger than this is refused (10,000 contexts with their images take ~2 MiB).
MAX_LOCK_BYTES = 64 << 20


def _read_regular(path: Path) -> bytes:
    """The bytes of ``path`` when it is a regular file of at most :data:`MAX_LOCK_BYTES`
    (a FIFO or ``/dev/zero`` behind a symlink is refused, never read). Raises ``OSError``."""
    import errno
    import stat

    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        if st.st_size > MAX_LOCK_BYTES:
            raise OSError(errno.EFBIG, f"larger than {MAX_LOCK_BYTES >> 20} MiB")
        with os.fdopen(os.dup(fd), "rb") as f:
            return f.read(MAX_LOCK_BYTES + 1)
    finally:
        os.close(fd)


_LINE_INDEX: list = [None, {}]  # [the text indexed last, its index]
_DECODER = json.JSONDecoder()


def _index(text: str) -> dict[tuple[str, ...], int]:
    """Key path → line of every key of canonical lock ``text`` (two-space indent), built in
    one pass and kept for the last text asked about."""
    if _LINE_INDEX[0] is text:
        return _LINE_INDEX[1]
    out: dict[tuple[str, ...], int] = {}
    stack: list[str] = []
    for number, line in enumerate(text.split("\n"), 1):
        stripped = line.lstrip(" ")
        if not stripped.startswith('"'):
            continue
        depth = (len(line) - len(stripped)) // 2 - 1
        try:
            key, end = _DECODER.raw_decode(stripped)
        except ValueError:
            continue
        rest = stripped[end:]
        if not isinstance(key, str) or not rest.startswith(":") or depth < 0:
            continue
        del stack[depth:]
        stack.append(key)
        out.setdefault(tuple(stack), number)
    _LINE_INDEX[:] = [text, out]
    return out


def _line_of(text: str, *keys: str) -> int:
    """The line of the JSON key path ``keys`` in canonical lock ``text`` (the deepest
    prefix of it found), or 1."""
    index = _index(text)
    for n in range(len(keys), 0, -1):
        if tuple(keys[:n]) in index:
            return index[tuple(keys[:n])]
    return 1


@functools.cache
def _schema() -> dict:
    nullable_str = {"type": ["string", "null"]}
    pins = {"type": ["object", "null"], "additionalProperties": {"type": "string"}}
    return {
        "type": "object",
        "required": ["format", "landscape", "project", "bases", "rez", "packages", "images",
                     "contexts"],
        "additionalProperties": False,
        "properties": {
            "format": {"type": "integer"},
            "landscape": {"type": "object", "required": ["version", "recipe"],
                          "properties": {"version": {"type": "string"},
                                         "recipe": {"type": "string"}}},
            "project": {"type": "string"},
            "bases": {"type": "object", "additionalProperties": {
                "type": "object", "required": ["fingerprint", "os_packages"],
                "properties": {"fingerprint": nullable_str, "os_packages": pins}}},
            "rez": {"type": "object", "additionalProperties": {
                "type": "object", "required": ["wheel", "sha256"],
                "properties": {"wheel": nullable_str, "sha256": nullable_str}}},
            "packages": {"type": "object", "additionalProperties": {
                "type": "object", "required": ["name", "version", "repository", "digest"],
                "properties": {"name": {"type": "string"}, "version": {"type": "string"},
                               "variant": {"type": ["integer", "null"]},
                               "repository": {"type": "string"},
                               "digest": {"type": "string"},
                               "delivery": {"enum": ["mount"]}}}},
            "images": {"type": "object", "additionalProperties": {
                "type": "object",
                "required": ["tag", "base", "rez", "system_packages", "packages", "tools",
                             "os_packages", "pushed"],
                "properties": {
                    "tag": {"type": "string"}, "base": {"type": "string"},
                    "rez": {"type": "string"},
                    "system_packages": {"type": "array", "items": {"type": "string"}},
                    "packages": {"type": "array", "items": {"type": "string"}},
                    "tools": {"type": "object", "additionalProperties": {
                        "type": "array", "items": {"type": "string"}}},
                    "os_packages": pins,
                    "pushed": {"type": "object", "additionalProperties": {"type": "string"}},
                }}},
            "contexts": {"type": "object", "additionalProperties": {"type": "string"}},
        },
    }


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict:
    out: dict = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"the key {k!r} appears twice")
        out[k] = v
    return out


def read_lock(path: Path, project: Path | None = None) -> dict:
    """The lock at ``path``, validated. Raises :class:`LockError` naming ``file:line`` and
    what to run: for a missing file, text that is not JSON (truncated, a merge conflict), a
    lock of a newer format, or a shape this Landscape does not write (edited by hand)."""
    from .resources import cache_dir

    again = f"landscape lock {project or path.parent}"
    try:
        raw = _read_regular(path)
    except FileNotFoundError:
        raise LockError(f"no lock: {path} does not exist", hint=f"run `{again}`") from None
    except OSError as e:
        raise LockError(f"cannot read {path}: {e.strerror or e}",
                        hint=f"run `{again}` to write it again") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise LockError("not UTF-8 text (a lock is ASCII JSON)", Location(str(path), line, 1),
                        hint=f"run `{again}` to write it again") from None
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicates)
    except RecursionError:
        raise LockError("not a valid lock (nested too deeply)", Location(str(path), 1, 1),
                        hint=f"run `{again}` to write it again") from None
    except ValueError as e:
        line = getattr(e, "lineno", 1)
        col = getattr(e, "colno", 0)
        raise LockError(f"not a valid lock (truncated, or edited by hand?): "
                        f"{getattr(e, 'msg', e)}", Location(str(path), line, col),
                        hint=f"run `{again}` to write it again") from None
    if isinstance(data, dict) and isinstance(data.get("format"), int) and \
            data["format"] > LOCK_FORMAT:
        raise LockError(f"written by a newer Landscape (lock format {data['format']}; this "
                        f"Landscape {__version__} reads format {LOCK_FORMAT})",
                        Location(str(path), _line_of(text, "format"), 1),
                        hint="upgrade Landscape, or run `" + again + "` to write it again")
    from .schema import _digest

    marker = cache_dir() / "valid" / _digest(_schema(), raw)
    errors = []
    if not marker.exists():  # only a lock not seen valid before pays for jsonschema (~60 ms)
        import jsonschema

        errors = sorted(jsonschema.Draft202012Validator(_schema()).iter_errors(data),
                        key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        e = errors[0]
        keys = [str(k) for k in e.absolute_path]
        raise LockError(f"{'.'.join(keys) or 'lock'}: {e.message[:200]} (edited by hand?)",
                        Location(str(path), _line_of(text, *keys), 1),
                        hint=f"run `{again}` to write it again")
    if not marker.exists():
        try:  # the same bytes validate the same: the next read skips jsonschema
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.touch()
        except OSError:
            pass
    data["_text"] = text
    return data


# -- comparing -------------------------------------------------------------------------


@dataclass
class Drift:
    """One difference between a lock and the project now: ``subject`` (a context label, a
    package or ``landscape``), ``message`` and the lock's ``line`` it concerns."""

    subject: str
    message: str
    line: int = 1

    def text(self, path: Path) -> str:
        return f"{path}:{self.line}: {self.subject}: {self.message}"


def _by_name(qualified: list[str]) -> dict[str, str]:
    out = {}
    for q in qualified:
        name, _, version = q.partition("-")
        out[name] = version
    return out


def _package_changes(old: list[str], new: list[str]) -> list[str]:
    a, b = _by_name(old), _by_name(new)
    out = []
    for name in sorted(set(a) | set(b)):
        if a.get(name) != b.get(name):
            out.append(f"{name} {a.get(name) or '(none)'} → {b.get(name) or '(none)'}")
    return out


def drift(old: dict, new: dict, only: set[str] | None = None) -> list[Drift]:
    """What changed from lock ``old`` to the freshly made ``new`` (inputs phase): one
    :class:`Drift` per context and package that moved (``seq010/sh020: studio_pipeline
    1.0.0 → 1.1.0``), per new or removed context, per package whose content changed under
    the same version, and for another Landscape version or image recipe. ``only`` limits
    the contexts compared (a build of one context). Empty when nothing drifted."""
    text = old.get("_text", "")
    out: list[Drift] = []
    if old.get("landscape") != new.get("landscape"):
        o, n = old.get("landscape") or {}, new["landscape"]
        what = (f"Landscape {o.get('version')} → {n['version']}"
                if o.get("version") != n["version"] else "image recipe changed "
                f"({str(o.get('recipe'))[:19]} → {n['recipe'][:19]})")
        out.append(Drift("landscape", what, _line_of(text, "landscape")))
    for name, entry in sorted(new["packages"].items()):
        was = (old.get("packages") or {}).get(name)
        if isinstance(was, dict) and was.get("digest") != entry["digest"]:
            out.append(Drift(name.split("@")[0], "content changed under the same version "
                             f"(digest {str(was.get('digest'))[:19]} → {entry['digest'][:19]})",
                             _line_of(text, "packages", name)))
    for key, entry in sorted(new["images"].items()):
        was = (old.get("images") or {}).get(key)
        if not isinstance(was, dict):
            continue
        changed = sorted(k for k in _IMAGE_INPUTS if was.get(k) != entry.get(k))
        if changed:
            out.append(Drift(entry["tag"], "the lock's " + ", ".join(changed) +
                             (" differs" if len(changed) == 1 else " differ") + " from "
                             "what this image key is made of (edited by hand?)",
                             _line_of(text, "images", key)))
    for section in ("images", "packages", "bases", "rez"):
        extra = sorted(set(old.get(section) or {}) - set(new[section]))
        for name in extra:  # nothing of the project makes it: never used, never trusted
            out.append(Drift(f"{section}.{name}", "in the lock but not made by any context "
                             "of the project (edited by hand, or left over)",
                             _line_of(text, section, name)))
        for name in sorted(set(new[section]) - set(old.get(section) or {})):
            out.append(Drift(f"{section}.{name}", "missing from the lock",
                             _line_of(text, section)))
    if old.get("project") != new["project"]:
        out.append(Drift("project", f"{old.get('project')!r} in the lock, the project is "
                         f"{new['project']!r}", _line_of(text, "project")))
    out.extend(_observed_problems(old))
    old_ctx, new_ctx = old.get("contexts") or {}, new["contexts"]
    names = sorted(set(old_ctx) | set(new_ctx))
    if only is not None:
        names = [n for n in names if n in only]
    for label in names:
        was, now = old_ctx.get(label), new_ctx.get(label)
        line = _line_of(text, "contexts", label)
        if was == now:
            if now is not None and now not in (old.get("images") or {}):
                out.append(Drift(label, f"its image {now[7:19]} is not in the lock's images",
                                 line))
            continue
        if was is None:
            out.append(Drift(label, "not in the lock (a new context)", _line_of(text, "contexts")))
            continue
        if now is None:
            out.append(Drift(label, "in the lock but no longer resolves here (removed, or "
                             "broken: see the errors above)", line))
            continue
        old_im = (old.get("images") or {}).get(was) or {}
        new_im = new["images"][now]
        changes = _package_changes(old_im.get("packages") or [], new_im["packages"])
        if old_im.get("system_packages") != new_im["system_packages"]:
            changes.append("OS packages " + " ".join(old_im.get("system_packages") or [])
                           + " → " + " ".join(new_im["system_packages"]))
        if old_im.get("base") != new_im["base"]:
            changes.append(f"base {old_im.get('base')} → {new_im['base']}")
        if old_im.get("tools") != new_im["tools"] and not changes:
            changes.append("tool setups changed")
        for c in changes or [f"image key {was[7:19]} → {now[7:19]} (package content or "
                             "image labels changed)"]:
            out.append(Drift(label, c, line))
    return out


#: The fields of a lock's image entry that the inputs phase derives from the image key's
#: inputs: a lock whose entry differs was edited (or is of another key).
_IMAGE_INPUTS = ("tag", "base", "rez", "system_packages", "packages", "tools")


def _observed_problems(lock: dict) -> list[Drift]:
    """The observed phase checked against itself and the inputs: every pin is a Debian
    ``name=version`` pair, and every OS package an image asks for is pinned or in its base.
    (Whether a pin is a dependency of a request needs apt: ``build --locked`` finds out.)"""
    from . import grammar

    text = lock.get("_text", "")
    out = []
    for ref, entry in sorted((lock.get("bases") or {}).items()):
        bad = [f"{n}={v}" for n, v in ((entry or {}).get("os_packages") or {}).items()
               if not (grammar.is_debian_package(n) and grammar.is_debian_version(v))]
        if bad:
            out.append(Drift(f"bases.{ref}", "OS packages that are not Debian name=version "
                             "pairs: " + ", ".join(repr(b) for b in bad[:5]),
                             _line_of(text, "bases", ref)))
    for key, im in sorted((lock.get("images") or {}).items()):
        pins = im.get("os_packages")
        if pins is None:
            continue
        bad = [f"{n}={v}" for n, v in pins.items()
               if not (grammar.is_debian_package(n) and grammar.is_debian_version(v))]
        base = ((lock.get("bases") or {}).get(im.get("base")) or {}).get("os_packages") or {}
        unpinned = [n for n in im.get("system_packages") or [] if n not in pins and n not in base]
        line = _line_of(text, "images", key)
        if bad:
            out.append(Drift(im.get("tag", key), "OS packages that are not Debian name=version "
                             "pairs: " + ", ".join(repr(b) for b in bad[:5]), line))
        if unpinned and (base or pins):
            out.append(Drift(im.get("tag", key), "requested OS packages the lock pins nowhere: "
                             + ", ".join(unpinned), line))
    return out


def missing_observations(lock: dict, keys: set[str] | None = None) -> list[str]:
    """What the observed phase still lacks for the images ``keys`` (all when ``None``): one
    line per base without a fingerprint, rez version without a wheel digest and image
    without OS package versions. Empty when the lock is complete."""
    out = []
    images = {k: v for k, v in lock["images"].items() if keys is None or k in keys}
    for ref in sorted({im["base"] for im in images.values()}):
        if not (lock["bases"].get(ref) or {}).get("fingerprint"):
            out.append(f"base {ref}: no content fingerprint")
    for version in sorted({im["rez"] for im in images.values()}):
        if not (lock["rez"].get(version) or {}).get("sha256"):
            out.append(f"rez {version}: no wheel digest")
    for _key, im in sorted(images.items()):
        if im.get("os_packages") is None:
            out.append(f"image {im['tag']}: no OS package versions")
    return out


def line_of_image(lock: dict, key: str) -> int:
    """The line of image ``key`` in the lock's text (1 when unknown)."""
    return _line_of(lock.get("_text", ""), "images", key)


def line_of_package(lock: dict, name: str) -> int:
    """The line of package entry ``name`` in the lock's text (1 when unknown)."""
    return _line_of(lock.get("_text", ""), "packages", name)


def public(lock: dict) -> dict:
    """``lock`` without the bookkeeping :func:`read_lock` adds (what :func:`dumps` writes)."""
    return {k: v for k, v in lock.items() if not k.startswith("_")}


