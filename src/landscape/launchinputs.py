"""What a launch takes from a resolved context, as plain data (light to import: no rez, no
YAML), so a launch of an unchanged context runs from the resolve cache alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import ConfigError, LandscapeError, Location, ResolveError
from .imagekey import ImageSpec
from .userstate import UserState


@dataclass(frozen=True)
class StorageMount:
    """One storage mount of a context, as the policy allowed it: the host ``source`` (its
    **real** path, symlinks resolved: what is mounted is what was judged), the container
    ``target`` (by default the path as written, the one users see) and ``mode`` (``rw`` or
    ``ro``). Made by :func:`landscape.context.storage_mounts`."""

    source: str
    target: str
    mode: str = "rw"

    @property
    def read_only(self) -> bool:
        return self.mode == "ro"

    def to_json(self) -> dict[str, str]:
        """docs/json.md ``storage`` item: ``{"source", "target", "mode"}``."""
        return {"source": self.source, "target": self.target, "mode": self.mode}

    @classmethod
    def from_json(cls, data: dict) -> "StorageMount":
        """The mount :meth:`to_json` wrote. Raises ``KeyError``/``ValueError``."""
        mode = str(data["mode"])
        if mode not in ("rw", "ro"):
            raise ValueError(f"mount mode {mode!r}")
        return cls(str(data["source"]), str(data["target"]), mode)

#: Where mounted package folders may go: the image's rez repository (rezsolve.IMAGE_PACKAGES).
_PAYLOAD_TARGETS = "/landscape/packages/"


@dataclass(frozen=True)
class PayloadMount:
    """The folder of one package whose payload is not baked into the image, mounted
    read-only at launch: ``package`` (``name-version``), its ``repository`` and folder
    (``base``) as rez reported them, ``source`` (the folder's **real** path when it was
    resolved, inside the repository's real path: what is mounted), ``target`` (where a baked
    copy would be: ``/landscape/packages/<name>/<version>``) and ``delivery``: ``mount``
    (``delivery: mount``; checked against ``landscape.lock`` at every launch) or ``dev``
    (``--dev``: the user's own package, mounted as it is). Made by
    :func:`landscape.payloads.payload_mounts`."""

    package: str
    repository: str
    base: str
    source: str
    target: str
    delivery: str

    def to_json(self) -> dict[str, str]:
        return {"package": self.package, "repository": self.repository, "base": self.base,
                "source": self.source, "target": self.target, "delivery": self.delivery}

    @classmethod
    def from_json(cls, data: dict) -> "PayloadMount":
        """The mount :meth:`to_json` wrote. Raises ``KeyError``/``ValueError`` for anything
        else (a target outside the image's package repository, another delivery)."""
        mount = cls(*(str(data[k]) for k in ("package", "repository", "base", "source",
                                              "target", "delivery")))
        target = mount.target
        if mount.delivery not in ("mount", "dev") or not target.startswith(_PAYLOAD_TARGETS) \
                or "/../" in target + "/" or "/./" in target + "/" or "//" in target:
            raise ValueError(f"payload mount {mount.package!r} to {target!r}")
        return mount


#: In every container: the resolved context as JSON (read-only), README.md, Images.
CONTEXT_FILE = "/landscape/context.json"


@dataclass
class LaunchInputs:
    """Everything a launch takes from a resolved context, as plain data: the ``context``
    path, the selected ``tool`` (``blender/render``), its argv ``command`` (``command`` then
    ``args``), whether it asks for a display (``gui``) or GPUs (``gpu``), the capabilities
    policy lets it add back (``cap_add``, or ``cap_error`` saying which one it refuses), the
    process limit, the working directory (``None`` with ``workdir_error`` saying why), the
    ``dirs`` to create there, the final ``env``, the ``storage`` mounts, the ``image`` spec,
    the project folder, the studio ``registry`` (or ``registry_error``), the policy
    ``errors`` that stop this tool, the resolved context as JSON (``context_json``, what
    ``/landscape/context.json`` holds), the studio ``root`` and the idle seconds after which
    a warm launch's workspace stops (``warm_idle``, or ``warm_idle_error`` saying why the
    root's ``launch.warm_idle`` is not a duration), the labels the image must carry
    (``image_labels``, :func:`landscape.recipe.image_labels`), the root's settings for
    the user's state — home, audit trail, secret declarations (``user_state``,
    :class:`~landscape.userstate.UserState`; never a secret's value) — and the package
    folders mounted read-only instead of baked (``payloads``: ``delivery: mount`` and
    ``--dev``; checked again at every launch, :mod:`landscape.engine.payloads`) and the
    tool's render keys (``render``: ``frames``/``outputs``/``verify`` → ``{"value": plain
    value, "from": "file:line:col"}``, read by :func:`landscape.renderspec.render_spec`).

    Made by :meth:`ResolvedContext.launch_inputs`, or read back from the resolve cache
    (:mod:`landscape.resolvecache`) with :meth:`from_record`, so a launch of an unchanged
    context never imports rez."""

    context: str
    tool: str
    command: list[str]
    gui: bool
    gpu: bool
    cap_add: list[str]
    cap_error: str | None
    pids_limit: int
    workdir: str | None
    workdir_error: str | None
    dirs: list[str]
    env: dict[str, str]
    storage: list[StorageMount]
    image: ImageSpec
    project_dir: str
    registry: str | None
    registry_error: str | None
    errors: list[LandscapeError]
    context_json: dict
    root: str = ""
    warm_idle: int | None = None
    warm_idle_error: str | None = None
    image_labels: dict[str, str] = field(default_factory=dict)
    user_state: UserState = field(default_factory=UserState)
    payloads: list[PayloadMount] = field(default_factory=list)
    render: dict = field(default_factory=dict)

    @property
    def project(self) -> str:
        return self.image.project

    def to_record(self) -> dict:
        """This record as JSON-able data (see :meth:`from_record`)."""
        data = {k: getattr(self, k) for k in self.__dataclass_fields__}
        data["image"] = self.image.to_record()
        data["storage"] = [m.to_json() for m in self.storage]
        data["payloads"] = [m.to_json() for m in self.payloads]
        data["errors"] = [error_record(e) for e in self.errors]
        data["user_state"] = self.user_state.to_record()
        return data

    @classmethod
    def from_record(cls, data: dict) -> "LaunchInputs":
        """The record :meth:`to_record` wrote. Raises ``KeyError``/``TypeError``/
        ``ValueError`` (or :class:`LandscapeError` from the image spec's own checks) for
        anything else: the caller treats that entry as absent."""
        fields = {k: data[k] for k in cls.__dataclass_fields__}
        fields["image"] = ImageSpec.from_record(data["image"])
        fields["storage"] = [StorageMount.from_json(m) for m in data["storage"]]
        fields["payloads"] = [PayloadMount.from_json(m) for m in data["payloads"]]
        fields["errors"] = [error_from_record(e) for e in data["errors"]]
        fields["user_state"] = UserState.from_record(data["user_state"])
        inputs = cls(**fields)
        if not isinstance(inputs.command, list) or not all(isinstance(a, str)
                                                           for a in inputs.command):
            raise TypeError("command")
        if not isinstance(inputs.render, dict) or not all(
                isinstance(v, dict) for v in inputs.render.values()):
            raise TypeError("render")
        for name in ("env", "image_labels"):
            table = getattr(inputs, name)
            if not isinstance(table, dict) or not all(
                    isinstance(k, str) and isinstance(v, str) for k, v in table.items()):
                raise TypeError(name)
        return inputs


def error_record(e: LandscapeError) -> dict:
    """``e`` as JSON-able data (kind, message, location, key path, hint)."""
    loc = e.location
    return {"kind": type(e).__name__, "message": e.message, "hint": e.hint,
            "location": [loc.file, loc.line, loc.col] if loc is not None else None,
            "key_path": list(e.key_path)}


def error_from_record(data: dict) -> LandscapeError:
    """The error :func:`error_record` wrote (a :class:`ConfigError` when it had a place)."""
    loc = data["location"]
    kind = {"ConfigError": ConfigError, "ResolveError": ResolveError}.get(data["kind"],
                                                                          LandscapeError)
    return kind(str(data["message"]), Location(str(loc[0]), int(loc[1]), int(loc[2]))
                if loc else None, tuple(data["key_path"]), data["hint"])
