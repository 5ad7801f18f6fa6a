"""The data the launcher window shows and sends, as plain dataclasses (no Qt).

The :class:`~landscape.gui.backend.Backend` fills them from the library (the resolved
context and its ``--explain`` provenance, the engine's image state, a launch's outcome); the
window only displays them. Every text field is plain text taken from config files below the
studio root, so the window must never interpret it as markup.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Row:
    """One displayed value: ``key`` (``fps``, ``OCIO``, a storage source), ``value`` (its
    text as shown) and ``source``: where it came from — ``file:line``, ``default``,
    ``derived``, ``package NAME-VERSION`` or several actions joined by ``"; "``; ``""``
    when unknown."""

    key: str
    value: str
    source: str = ""


@dataclass(frozen=True)
class PackageRow:
    """One package of rez's solution: ``name``, ``version`` (with ``[variant]`` when the
    package has variants), the ``repository`` folder it came from and ``requested_by``: the
    ``file:line`` of the request that named it, ``""`` for a dependency nobody named."""

    name: str
    version: str
    repository: str = ""
    requested_by: str = ""


@dataclass(frozen=True)
class ToolInfo:
    """A tool of the context: its ``name``, ``label``, ``variants`` (the tool variants to
    offer, the default ``""`` first), whether it opens windows (``gui``), asks for GPUs
    (``gpu``) and its ``category`` (``""`` when none)."""

    name: str
    label: str
    variants: tuple[str, ...] = ("",)
    gui: bool = False
    gpu: bool = False
    category: str = ""


@dataclass
class ContextDetails:
    """What the window shows for one selected context, tool and context variants.

    ``errors`` holds every problem as ``file:line:col: message`` (or a one-line message when
    no file is to blame); a context with errors is not ``launchable``. ``policy_ok`` is
    False when the policy blocks the launch, ``policy_message`` then names the rule and its
    ``file:line``.
    """

    context: Path
    tool: str | None = None
    variants: tuple[str, ...] = ()
    available_variants: list[str] = field(default_factory=list)
    levels: dict[str, str] = field(default_factory=dict)
    level_folders: dict[str, str] = field(default_factory=dict)  # folder path → its level
    files: list[str] = field(default_factory=list)
    metadata: list[Row] = field(default_factory=list)
    packages: list[PackageRow] = field(default_factory=list)
    env: list[Row] = field(default_factory=list)
    storage: list[Row] = field(default_factory=list)
    workdir: str = ""
    image_key: str = ""
    image_tag: str = ""
    tools: list[ToolInfo] = field(default_factory=list)
    policy_ok: bool = True
    policy_message: str = ""
    errors: list[str] = field(default_factory=list)

    @property
    def launchable(self) -> bool:
        """True when nothing stops a launch: no errors and the policy allows it."""
        return not self.errors and self.policy_ok


@dataclass(frozen=True)
class ImageState:
    """The engine's view of a context's image: ``state`` is ``"ready"`` (the engine has
    it), ``"missing"`` (to build or pull) or ``"unknown"`` (the engine did not answer;
    ``message`` says why)."""

    state: str
    message: str = ""


@dataclass(frozen=True)
class LaunchRequest:
    """One launch the artist asked for: ``tool`` with its tool ``variant`` (``None`` or
    ``""`` for the default) in ``context`` with the context ``variants`` (``--variant``), the
    extra ``args`` for the tool and the studio ``root`` when it is not above the context."""

    context: Path
    tool: str
    variant: str | None = None
    variants: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    root: Path | None = None


@dataclass(frozen=True)
class LaunchResult:
    """How a launch ended: the tool's ``exit_code`` (``None`` when it never started, then
    ``error`` says why), and its duration in ``seconds``."""

    exit_code: int | None
    seconds: float
    error: str | None = None
