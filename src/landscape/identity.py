"""Who launches: the user name containers see (standard library only, light to import)."""

from __future__ import annotations

import getpass
import os
from typing import Any

from . import grammar
from .memo import table


def user_name() -> str:
    """The launching user's name as containers see it: the host's name for this uid (user
    database, then ``getpass``) when it is a safe ``/etc/passwd`` name
    (:func:`landscape.grammar.is_user_name`), else ``uid<N>``."""
    import pwd

    memo = table("user_name")
    if memo is not None and "name" in memo:
        return memo["name"]
    name = _user_name(pwd)
    if memo is not None:
        memo["name"] = name
    return name


def _user_name(pwd: Any) -> str:
    candidates = []
    try:
        candidates.append(pwd.getpwuid(os.getuid()).pw_name)
    except KeyError:
        pass
    try:
        candidates.append(getpass.getuser())
    except (KeyError, OSError):
        pass
    for name in candidates:
        if grammar.is_user_name(name):
            return name
    return f"uid{os.getuid()}"
