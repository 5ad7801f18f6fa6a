"""Hostile folders and config text below the studio root, as the launcher reads them: names
and labels with markup, newlines and control characters stay plain data; link loops and
planted FIFOs never hang the tree or its index; a link leaving the root is not read."""

from __future__ import annotations

import os
import shlex
import threading
from pathlib import Path

from landscape.browse import ContextIndex, children, studio_entry
from landscape.gui.backend import Backend
from landscape.gui.model import LaunchRequest

HOSTILE = "<img src=x onerror=alert(1)>\n<b>bold</b>\x1b[31mred\x07\u202e"


def finished(fn, *args):
    """``fn(*args)`` in a thread; its result, or fail when it does not end (a hang guard,
    not a speed check)."""
    out: list = []
    t = threading.Thread(target=lambda: out.append(fn(*args)), daemon=True)
    t.start()
    t.join(60)
    assert not t.is_alive(), f"{fn.__name__} hangs"
    return out[0]


def test_hostile_names_and_labels_are_plain_data(studio):
    text = HOSTILE.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") \
        .replace("\x1b", "\\e").replace("\x07", "\\a")
    root = studio({"shot/landscape.yaml": f'''
        level: shot
        name: "{text}"
        metadata: {{label: "{text}", icon: "../../../etc/passwd", note: "{text}"}}
    '''})
    [entry] = children(root, root)
    assert entry.errors == ()
    assert entry.name == HOSTILE and entry.label == HOSTILE  # as written: data, not markup
    assert entry.icon == "../../../etc/passwd"  # a name, never a path the tree opens
    d = Backend(root).details(root / "shot", None, ())
    assert {r.key: r.value for r in d.metadata}["note"] == HOSTILE
    assert {r.key: r.value for r in d.metadata}["label"] == HOSTILE


def test_a_hostile_folder_name_is_quoted_in_the_command_line(studio):
    name = "$(touch pwned);`id`|x\n'q'"
    root = studio({f"{name}/landscape.yaml": "level: shot\n"})
    [entry] = children(root, root)
    assert entry.path.name == name
    line = Backend(root).command_line(LaunchRequest(entry.path, "python", args=("; rm -rf /",)))
    words = shlex.split(line)
    assert words[2] == str(root / name) and words[-1] == "; rm -rf /"


def test_link_loops_do_not_hang_the_tree_or_the_index(studio):
    root = studio({"seq/landscape.yaml": "level: sequence\n",
                   "seq/sh1/landscape.yaml": "level: shot\n"})
    (root / "seq/loop").symlink_to(root / "seq")
    (root / "seq/sh1/up").symlink_to("../..")
    (root / "seq/self").symlink_to("self")
    kids = finished(children, root / "seq", root)
    assert [e.path.name for e in kids] == ["sh1"]
    assert finished(ContextIndex(root).build) == ["seq", "seq/sh1"]


def test_planted_fifos_do_not_hang_the_tree_or_the_index(studio):
    root = studio({"seq/landscape.yaml": "level: sequence\n",
                   "seq/sh1/landscape.yaml": "level: shot\n"})
    os.mkfifo(root / "seq/sh2")  # a FIFO where a shot folder would be
    (root / "seq/sh3").mkdir()
    os.mkfifo(root / "seq/sh3/landscape.yaml")  # a FIFO as a config file
    kids = finished(children, root / "seq", root)
    assert [e.path.name for e in kids] == ["sh1", "sh3"]
    assert "not a regular file" in kids[1].errors[0]
    assert finished(ContextIndex(root).build) == ["seq", "seq/sh1", "seq/sh3"]
    d = finished(Backend(root).details, root / "seq/sh3", None, ())
    assert d.errors and not d.launchable


def test_a_config_link_leaving_the_root_is_not_read(studio, tmp_path):
    secret = tmp_path / "secret.yaml"
    secret.write_text("name: TOP SECRET\nlevel: shot\n")
    root = studio({"shot/landscape.yaml": "level: shot\n"})
    (root / "shot/landscape.yaml").unlink()
    (root / "shot/landscape.yaml").symlink_to(secret)
    [entry] = children(root, root)
    assert entry.name == "shot" and "outside the studio root" in entry.errors[0]
    assert "TOP SECRET" not in " ".join(entry.errors)


def test_a_studio_root_that_is_a_fifo_or_missing(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    assert finished(studio_entry, tmp_path / "fifo").errors
    assert finished(children, tmp_path / "fifo", tmp_path / "fifo") == []
    assert finished(ContextIndex(Path(tmp_path / "fifo")).build) == []
