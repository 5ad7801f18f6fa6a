"""The grammars of values that reach generated artifacts (standard library only).

Config files below the studio root are untrusted input, and their values end up in a
Dockerfile, an image's labels, a compose file, a container's configuration or its
``/etc/passwd``. Landscape never pastes such a value into text: it validates it against the
grammar of the token it becomes, or hands it to the engine as data. This module holds those
grammars, each a predicate ``is_*(text) -> bool`` (``check_*`` variants return the reason
a value is refused, or ``None``), used by the JSON Schema (``check``), by the image spec
(before a Dockerfile is rendered) and by the launch.

Grammars, with their sources:

- Debian package names (Debian Policy §5.6.1): lowercase letters, digits, ``+ - .``, at
  least two characters, starting with a letter or digit.
- Image references: the grammar of the Docker / OCI distribution reference
  (``[domain[:port]/]path[:tag][@digest]``, lowercase path components joined by ``.``,
  ``_``, ``__`` or dashes; tags ``[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}``; digests
  ``algorithm:hex{32,}``), at most 255 characters for the name.
- Label keys: the reverse-DNS form the OCI image spec recommends, lowercase alphanumeric
  components joined by ``.``, ``-`` or ``_``. ``io.landscape.*`` and the OCI annotations
  Landscape writes itself are reserved (:data:`RESERVED_LABELS`).
- User and group names for ``/etc/passwd``: the portable POSIX set, at most 32 characters.
- Linux capabilities: the names of ``capabilities(7)`` (without ``CAP_``).
- Folder names of persistent homes (:func:`folder_name`): a name made of letters, digits,
  ``. _ + -`` that starts with a letter or digit is used as it is; any other name becomes
  ``_<slug>-<digest>``, which no plain name can equal and which is never ``.``, ``..`` or
  a path with ``/``.

The patterns are written for JSON Schema too (``$`` at their end). In Python ``$`` also
matches before a final newline, so every predicate here uses ``fullmatch``, and the schema
turns a final ``$`` into an end-of-text assertion both regex dialects read alike
(:func:`landscape.schema.strict_end`).
"""

from __future__ import annotations

import ipaddress
import os
import re

#: Debian names; a trailing ``-`` (apt: "remove this package") is refused
DEBIAN_PACKAGE = re.compile(r"^[a-z0-9][a-z0-9+.-]*[a-z0-9+.]$")
LABEL_KEY = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$")
USER_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,31}$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|-+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])"
_DOMAIN = rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*(?::[0-9]+)?"
_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
IMAGE_REFERENCE = re.compile(
    rf"^(?P<name>(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*)"
    rf"(?::(?P<tag>{_TAG}))?(?:@(?P<digest>{_DIGEST}))?$")

#: Label keys (and prefixes, ending in ``.``) that only Landscape writes.
RESERVED_LABELS = (
    "io.landscape.",
    "org.opencontainers.image.title",
    "org.opencontainers.image.description",
    "org.opencontainers.image.base.name",
    "org.opencontainers.image.base.digest",
    "org.opencontainers.image.version",
    "org.opencontainers.image.created",
    "com.docker.compose.",
    "com.docker.stack.",
)

#: capabilities(7), without the ``CAP_`` prefix.
CAPABILITIES = frozenset("""
AUDIT_CONTROL AUDIT_READ AUDIT_WRITE BLOCK_SUSPEND BPF CHECKPOINT_RESTORE CHOWN DAC_OVERRIDE
DAC_READ_SEARCH FOWNER FSETID IPC_LOCK IPC_OWNER KILL LEASE LINUX_IMMUTABLE MAC_ADMIN
MAC_OVERRIDE MKNOD NET_ADMIN NET_BIND_SERVICE NET_BROADCAST NET_RAW PERFMON SETFCAP SETGID
SETPCAP SETUID SYSLOG SYS_ADMIN SYS_BOOT SYS_CHROOT SYS_MODULE SYS_NICE SYS_PACCT SYS_PTRACE
SYS_RAWIO SYS_RESOURCE SYS_TIME SYS_TTY_CONFIG WAKE_ALARM
""".split())


def is_debian_package(text: object) -> bool:
    """Whether ``text`` is a Debian package name (``blender``, ``libgl1-mesa-dri``, ``g++``)."""
    return isinstance(text, str) and bool(DEBIAN_PACKAGE.fullmatch(text))


def is_image_reference(text: object) -> bool:
    """Whether ``text`` is a Docker image reference (``landscape/base:bookworm``,
    ``registry.example:5000/studio/base@sha256:…``)."""
    if not isinstance(text, str):
        return False
    m = IMAGE_REFERENCE.fullmatch(text)
    return bool(m) and len(m.group("name")) <= 255


def check_label_key(key: object) -> str | None:
    """Why ``key`` may not be a label key set by config, or ``None`` when it may."""
    if not isinstance(key, str) or not LABEL_KEY.fullmatch(key):
        return ("a label key is lowercase letters and digits in dot-separated components "
                "(reverse DNS, e.g. com.example.team)")
    if is_reserved_label(key):
        return "this label is reserved: only Landscape writes it"
    return None


def is_reserved_label(key: str) -> bool:
    """Whether ``key`` is one of :data:`RESERVED_LABELS` (or under a reserved prefix)."""
    return any(key.startswith(r) if r.endswith(".") else key == r for r in RESERVED_LABELS)


def is_user_name(text: object) -> bool:
    """Whether ``text`` may be written as a user or group name into ``/etc/passwd`` or
    ``/etc/group`` (no ``:``, newline or other separator can appear)."""
    return isinstance(text, str) and bool(USER_NAME.fullmatch(text))


#: a folder name used as it is (:func:`folder_name`): never ``.``, ``..``, empty or with ``/``
FOLDER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}$")


def folder_name(text: str) -> str:
    """One path component for ``text`` (a user, project or tool name): ``text`` itself when
    it matches :data:`FOLDER_NAME`, else ``_`` + its letters, digits and ``._-`` (others
    as ``-``, at most 40) + ``-`` + 12 hex digits of its sha256. The result is always one
    safe component (never ``.``/``..``, no ``/``, NUL or newline, at most 64 characters);
    two different names never share one."""
    if FOLDER_NAME.fullmatch(text):
        return text
    import hashlib

    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", text)[:40]
    return f"_{slug}-{hashlib.sha256(text.encode('utf-8', 'surrogatepass')).hexdigest()[:12]}"


def is_env_name(text: object) -> bool:
    """Whether ``text`` is an environment variable name (``[A-Za-z_][A-Za-z0-9_]*``)."""
    return isinstance(text, str) and bool(ENV_NAME.fullmatch(text))


def capability(text: object) -> str | None:
    """The capability ``text`` names (``SYS_PTRACE`` for ``sys_ptrace`` or
    ``CAP_SYS_PTRACE``), or ``None`` when it names none."""
    if not isinstance(text, str):
        return None
    name = text.upper().removeprefix("CAP_")
    return name if name in CAPABILITIES else None


def is_ip_address(text: object) -> bool:
    """Whether ``text`` is an IPv4 or IPv6 address (a bind address of a published port)."""
    try:
        ipaddress.ip_address(str(text))
    except ValueError:
        return False
    return isinstance(text, str)


def check_container_path(text: object) -> str | None:
    """Why ``text`` is not a usable container path (absolute, normalised, no NUL or newline),
    or ``None``."""
    if not isinstance(text, str) or not text.startswith("/"):
        return "must be an absolute container path"
    if any(c in text for c in "\0\n\r"):
        return "must not contain NUL or newline characters"
    norm = "/" + os.path.normpath(text).lstrip("/")  # POSIX keeps a leading "//"
    if norm != text:
        return f"must be a normalised path (write {norm})"
    return None


_DNS_LABEL = r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?"
_REGISTRY = re.compile(
    rf"(?P<host>\[[0-9a-fA-F:.]+\]|{_DNS_LABEL}(?:\.{_DNS_LABEL})*)"
    r"(?::(?P<port>[0-9]{1,5}))?"
    rf"(?P<path>(?:/{_PATH_COMPONENT})*)")


def is_registry(text: object) -> bool:
    """Whether ``text`` names a registry location that image references are built on
    (``registry.example.com``, ``127.0.0.1:5000``, ``[::1]:5000``, ``reg.example/studio``):
    a host — a lowercase DNS name (labels of at most 63 characters, at most 253 in all), an
    IPv4 address (an all-numeric host must be one) or a bracketed IPv6 address — an optional
    ``:port`` (1–65535) and optional ``/path`` components of the image reference grammar
    (lowercase). No scheme (``http://``), user, query, whitespace or trailing ``/``.

    The host must be one Docker reads as a registry: it holds a ``.`` or a port, or is
    ``localhost`` or an IPv6 address — ``studio/x`` would otherwise mean Docker Hub's
    ``studio`` namespace. (Docker 20.10's own reference grammar, and
    :func:`is_image_reference`, have no IPv6 hosts: references on such a registry are
    refused where they are built.)"""
    if not isinstance(text, str):
        return False
    m = _REGISTRY.fullmatch(text)
    if not m:
        return False
    host, port = m.group("host"), m.group("port")
    if port is not None and not 1 <= int(port) <= 65535:
        return False
    if host.startswith("["):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            return False
        return True
    if len(host) > 253 or any(len(label) > 63 for label in host.split(".")):
        return False
    if re.fullmatch(r"[0-9.]+", host):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            return False
        return True
    return "." in host or port is not None or host == "localhost"


#: An apt mirror or cache builds may fetch from: http(s), a host (name, IPv4 or [IPv6]) with
#: an optional port, and a path of URL-safe characters (no spaces, quotes, ``$`` or newlines:
#: it becomes one line of ``sources.list`` in the build's fetch stage).
APT_MIRROR = re.compile(r"https?://(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:]+\])(?::[0-9]{1,5})?"
                        r"(?:/[A-Za-z0-9._~%+/-]*)?")
#: Debian's version grammar: ``[epoch:]upstream[-revision]`` (deb-version(7)).
DEBIAN_VERSION = re.compile(r"(?:[0-9]+:)?[0-9][A-Za-z0-9.+~:-]*")


def is_apt_mirror(text: object) -> bool:
    """Whether ``text`` is an apt mirror URL (:data:`APT_MIRROR`), at most 2048 characters."""
    return isinstance(text, str) and len(text) <= 2048 and bool(APT_MIRROR.fullmatch(text))


def is_debian_version(text: object) -> bool:
    """Whether ``text`` is a Debian package version (:data:`DEBIAN_VERSION`), ≤ 256 chars."""
    return isinstance(text, str) and len(text) <= 256 and bool(DEBIAN_VERSION.fullmatch(text))
