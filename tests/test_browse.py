"""The studio tree (landscape.browse): folders listed one level at a time with what their own
file says, broken files shown on their entry, and the index of context paths the launcher's
filter searches (no Docker, no rez)."""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import write_tree
from landscape import browse
from landscape.browse import BrowseEntry, ContextIndex, children, studio_entry
from landscape.plan import enumerate_contexts

LOCATED = re.compile(r":\d+:\d+: ")


def names(entries: list[BrowseEntry]) -> list[str]:
    return [e.path.name for e in entries]


def test_the_example_studio_as_a_tree(example):
    root = studio_entry(example)
    assert root.name == "Example Studio" and root.errors == () and root.has_children
    top = children(example, example)
    assert names(top) == ["projects"]  # packages/ and manifests/ hold no context
    assert top[0].level is None and top[0].has_children
    project = children(example / "projects", example)
    assert [(e.name, e.level) for e in project] == [("Lighthouse", "project")]
    kids = children(example / "projects/lighthouse", example)
    # sorted by name: the sequences' names (Arrival, Storm), the assets folder by its own
    assert [e.name for e in kids] == ["Arrival", "assets", "Storm"]
    assert names(kids) == ["seq010", "assets", "seq020"]
    shots = children(example / "projects/lighthouse/seq010", example)
    assert [(e.name, e.level, e.errors) for e in shots] == [("sh010", "shot", ()),
                                                           ("sh020", "shot", ())]
    assert all(e.path.is_absolute() for e in shots)


def test_labels_and_icons_come_from_the_folders_own_file(studio):
    root = studio({
        "p/landscape.yaml": """
            level: project
            name: Film
            metadata: {label: "The Film", icon: film}
        """,
        "p/sq/landscape.yaml": "level: sequence\n",
        "p/sq/sh1/landscape.yaml": "level: shot\nmetadata: {fps: 24}\n",
    })
    [p] = children(root, root)
    assert (p.name, p.level, p.label, p.icon) == ("Film", "project", "The Film", "film")
    [sq] = children(root / "p", root)
    assert (sq.name, sq.label, sq.icon) == ("sq", None, None)  # nothing inherited
    [sh] = children(root / "p/sq", root)
    assert (sh.label, sh.has_children) == (None, False)


def test_only_plain_strings_are_taken_from_a_file(studio):
    root = studio({"a/landscape.yaml": "level: shot\nmetadata: {label: [1, 2], icon: {x: 1}}\n"})
    [a] = children(root, root)
    assert (a.name, a.label, a.icon) == ("a", None, None)


def test_a_broken_file_is_shown_on_its_entry_and_its_siblings_are_fine(studio):
    root = studio({
        "seq/landscape.yaml": "level: sequence\n",
        "seq/sh1/landscape.yaml": "level: shot\nmetadata: [unclosed\n",
        "seq/sh2/landscape.yaml": "level: shot\nmetdata: {}\n",
        "seq/sh3/landscape.yaml": "level: shot\n",
    })
    sh1, sh2, sh3 = children(root / "seq", root)
    assert sh1.errors and all(LOCATED.search(e) for e in sh1.errors), sh1.errors
    assert "sh1/landscape.yaml:" in sh1.errors[0] and "YAML" in sh1.errors[0]
    assert sh2.errors and "metdata" in " ".join(sh2.errors) and LOCATED.search(sh2.errors[0])
    assert sh2.level == "shot"  # what could be read is still shown
    assert sh3.errors == ()


def test_variant_files_make_a_context_and_their_errors_show(studio):
    root = studio({
        "only_variant/landscape.anim.yaml": "metadata: {fps: 12}\n",
        "bad_variant/landscape.yaml": "level: shot\n",
        "bad_variant/landscape.comp.yaml": "root: true\n",
    })
    bad, only = children(root, root)
    assert only.path.name == "only_variant" and only.errors == ()
    assert any("variant file" in e for e in bad.errors)


def test_hidden_folders_links_and_folders_of_files_are_not_listed(studio, tmp_path):
    outside = write_tree(tmp_path / "outside", {"p/landscape.yaml": "level: project\n"})
    root = studio({
        "real/landscape.yaml": "level: project\n",
        ".landscape/x/landscape.yaml": "level: shot\n",
        ".git/landscape.yaml": "level: shot\n",
        "work/renders/frame.exr": "",
    })
    (root / "linked").symlink_to(outside / "p")
    assert names(children(root, root)) == ["real"]
    index = ContextIndex(root)
    assert index.build() == ["real"]


def test_the_index_finds_what_plan_and_check_call_contexts(example):
    found = ContextIndex(example).build()
    planned = {str(path.relative_to(example)) for path, variants in enumerate_contexts(example)
               if path != example}
    assert set(found) == planned and found == sorted(found)


def test_children_reads_only_the_direct_subfolders_files(studio, monkeypatch):
    files = {"seq/landscape.yaml": "level: sequence\n"}
    for i in range(30):
        files[f"seq/sh{i:03d}/landscape.yaml"] = "level: shot\n"
        files[f"seq/sh{i:03d}/deep/landscape.yaml"] = "level: [broken\n"
    root = studio(files)
    read: list[Path] = []
    real = browse.load_config

    def recording(path, variant=None, root=None):
        read.append(path)
        return real(path, variant, root=root)

    monkeypatch.setattr(browse, "load_config", recording)
    shots = children(root / "seq", root)
    assert len(shots) == 30 and all(e.errors == () and e.has_children for e in shots)
    # the folder's own file (its child_level) and each shot's own file: nothing deeper
    assert sorted(read) == sorted([root / "seq/landscape.yaml"] + [
        root / f"seq/sh{i:03d}/landscape.yaml" for i in range(30)])


def test_an_unreadable_folder_is_an_entry_with_an_error(studio, monkeypatch):
    root = studio({"a/landscape.yaml": "level: shot\n", "b/landscape.yaml": "level: shot\n"})
    locked = root / "b"
    if os.geteuid() != 0:
        locked.chmod(0)
    else:  # root reads everything: the folder refuses the listing as a locked one would
        scandir = os.scandir

        def refusing(path="."):
            if os.fspath(path) == str(locked):
                raise PermissionError(13, "Permission denied", str(locked))
            return scandir(path)

        monkeypatch.setattr(browse.os, "scandir", refusing)
    try:
        a, b = children(root, root)
        assert a.errors == ()
        assert b.path == locked and "cannot list this folder" in b.errors[0]
        assert children(locked, root) == []
        assert ContextIndex(root).build() == ["a", "b"]   # the filter finds what the tree shows
    finally:
        locked.chmod(0o755)


def test_a_missing_root_is_an_entry_with_an_error(tmp_path):
    entry = studio_entry(tmp_path / "nowhere")
    assert entry.errors and "does not exist" in entry.errors[0]
    assert children(tmp_path / "nowhere", tmp_path / "nowhere") == []
    assert ContextIndex(tmp_path / "nowhere").build() == []


def test_search_matches_every_term_anywhere_in_the_path(example):
    index = ContextIndex(example)
    index.build()
    assert index.search("SEQ0 sh0") == ["projects/lighthouse/seq010/sh010",
                                        "projects/lighthouse/seq010/sh020",
                                        "projects/lighthouse/seq020/sh030",
                                        "projects/lighthouse/seq020/sh040"]
    assert index.search("seq020 40") == ["projects/lighthouse/seq020/sh040"]
    assert index.search("lamp assets") == ["projects/lighthouse/assets/lamp"]
    assert index.search("nothing") == []
    assert len(index.search("", limit=3)) == 3
    assert ContextIndex(example).search("sh030") == ["projects/lighthouse/seq020/sh030"]


def test_a_cancelled_build_stops_and_keeps_the_index(example):
    index = ContextIndex(example)
    full = index.build()
    cancel = threading.Event()
    cancel.set()
    assert index.build(cancel) == [] and index.cancelled
    assert index.paths == full


def test_ten_thousand_shots_are_found_and_listed_lazily(tmp_path):
    root = write_tree(tmp_path / "s", {"landscape.yaml": "root: true\n",
                                       "film/landscape.yaml": "level: project\n"})
    for s in range(100):
        for n in range(100):
            d = root / f"film/seq{s:03d}/sh{n:03d}"
            d.mkdir(parents=True)
            (d / "landscape.yaml").write_text("level: shot\n")
    index = ContextIndex(root)
    paths = index.build()
    assert len(paths) == 1 + 10_000  # seq folders have no file: the project and the shots
    assert index.search("seq042 sh07") == [f"film/seq042/sh07{i}" for i in range(10)]
    assert len(children(root / "film", root)) == 100
    assert len(children(root / "film/seq042", root)) == 100


def test_a_listing_hands_its_entries_over_in_batches_in_folder_order(tmp_path, monkeypatch):
    monkeypatch.setattr(browse, "BATCH", 7)
    root = write_tree(tmp_path / "s", {"landscape.yaml": "root: true\n",
                                       "seq/landscape.yaml": "level: sequence\n"})
    for n in ["B", "a", "c", *(f"sh{i:02d}" for i in range(20))]:
        write_tree(root, {f"seq/{n}/landscape.yaml": f"name: Z{n}\n"})
    batches: list[list[BrowseEntry]] = []
    entries = children(root / "seq", root, batches.append)
    assert [len(b) for b in batches] == [7, 7, 7, 2]
    given_ = [e.path.name for b in batches for e in b]
    assert given_ == sorted(given_, key=browse.folder_order) == ["a", "B", "c", *(
        f"sh{i:02d}" for i in range(20))]
    assert sorted(e.path for e in entries) == sorted(e.path for b in batches for e in b)
    # the second listing (kept on disk) hands its entries over the same way
    again: list[list[BrowseEntry]] = []
    assert children(root / "seq", root, again.append) == entries and again == batches


def test_two_passes_show_every_row_before_any_file_is_read(tmp_path, monkeypatch):
    monkeypatch.setattr(browse, "BATCH", 4)
    root = write_tree(tmp_path / "s", {"landscape.yaml": "root: true\n",
                                       "seq/landscape.yaml": "level: sequence\n"
                                                             "child_level: shot\n"})
    for i in range(9):
        write_tree(root, {f"seq/sh{i}/landscape.yaml": f"name: Shot {i}\n"
                                                       "metadata: {label: L}\n"})
    write_tree(root, {"seq/bare/keep.txt": "",            # a shot by child_level, no file
                      "seq/broken/landscape.yaml": "name: [\n"})
    events: list[tuple[str, list[BrowseEntry]]] = []
    read_before: list[int] = []
    real_entry = browse._entry

    def counting(*args, **kwargs):
        read_before.append(len([k for k, _ in events if k == "batch"]))
        return real_entry(*args, **kwargs)

    monkeypatch.setattr(browse, "_entry", counting)
    entries = children(root / "seq", root, lambda b: events.append(("batch", b)),
                       lambda b: events.append(("update", b)))
    shown = [e for kind, b in events if kind == "batch" for e in b]
    updated = [e for kind, b in events if kind == "update" for e in b]
    # every row first (in folder order), then the finished entries, in the same order
    assert [k for k, _ in events] == ["batch"] * 3 + ["update"] * 3
    assert [e.path.name for e in shown] == sorted(
        (e.path.name for e in entries), key=browse.folder_order)
    outline = [e for e in shown if e.outline]
    assert [e.path.name for e in outline] == [e.path.name for e in updated]
    assert all(e.name == e.path.name and e.label is None and e.level == "shot"
               for e in outline)
    assert not any(e.outline for e in updated) and not any(e.outline for e in entries)
    assert [e for e in shown if not e.outline] == [
        e for e in entries if e.path.name == "bare"]       # nothing to read
    assert read_before.count(3) == 10 and read_before.count(0) == 1  # "bare" has no file
    broken = next(e for e in updated if e.path.name == "broken")
    assert broken.errors and LOCATED.search(broken.errors[0])
    # the same entries as one pass gives; the next listing (kept on disk) needs no update
    assert children(root / "seq", root) == entries
    again: list[tuple[str, list[BrowseEntry]]] = []
    assert children(root / "seq", root, lambda b: again.append(("batch", b)),
                    lambda b: again.append(("update", b))) == entries
    assert [k for k, _ in again] == ["batch"] * 3
    assert not any(e.outline for _, b in again for e in b)


TEXT = st.text(max_size=12)


@settings(max_examples=300, deadline=None)
@given(TEXT, st.lists(TEXT, max_size=4))
def test_match_is_every_term_ignoring_case(rel, terms):
    expected = all(t.casefold() in rel.casefold() for t in terms)
    assert ContextIndex.match(rel, terms) is expected


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(st.characters(blacklist_characters="\0"), min_size=1, max_size=8),
                max_size=20), TEXT, st.integers(0, 30))
def test_search_gives_sorted_matches_within_the_limit(paths, query, limit):
    index = ContextIndex(Path("/nowhere"))
    index.paths = sorted(set(paths))
    index._lowered = [p.casefold() for p in index.paths]
    index.built = True
    found = index.search(query, limit)
    terms = ContextIndex.terms(query)
    assert found == sorted(found) and len(found) <= limit
    assert all(ContextIndex.match(p, terms) for p in found)
    if len(found) < limit:
        assert found == [p for p in index.paths if ContextIndex.match(p, terms)]


def test_an_entry_is_plain_frozen_data(example):
    entry = children(example, example)[0]
    with pytest.raises(AttributeError):
        entry.name = "x"  # type: ignore[misc]


def test_a_listing_kept_on_disk_follows_every_change(studio, monkeypatch):
    from landscape import cascade

    root = studio({f"seq/sh{i}/landscape.yaml": "level: shot\n" for i in range(3)})
    assert [e.name for e in children(root / "seq", root)] == ["sh0", "sh1", "sh2"]
    monkeypatch.setattr(cascade, "_FILE_CACHE", {})  # the next process: only the disk cache
    parsed: list = []
    real = browse.load_config
    monkeypatch.setattr(browse, "load_config", lambda *a, **k: parsed.append(a) or real(*a, **k))
    assert [e.name for e in children(root / "seq", root)] == ["sh0", "sh1", "sh2"]
    assert parsed == []  # nothing parsed again
    (root / "seq/sh1/landscape.yaml").write_text("level: shot\nname: Renamed shot\n")
    (root / "seq/sh2/landscape.yaml").write_text("level: [broken\n")
    (root / "seq/sh3").mkdir()
    (root / "seq/sh3/landscape.anim.yaml").write_text("{}\n")
    entries = children(root / "seq", root)
    assert [e.name for e in entries] == ["Renamed shot", "sh0", "sh2", "sh3"]
    assert entries[2].errors and len(parsed) == 3
    from landscape.resources import cache_dir

    for f in (cache_dir() / "browse").iterdir():
        f.write_text("{not json")
    assert [e.name for e in children(root / "seq", root)] == [e.name for e in entries]


def test_child_level_makes_folders_without_a_file_shots(studio):
    root = studio({
        "seq/landscape.yaml": "level: sequence\nchild_level: shot\n",
        "seq/sh1/landscape.yaml": "name: First\n",
        "seq/sh3/work/python/notes.txt": "",
        "other/landscape.yaml": "level: sequence\n",
    })
    (root / "seq/sh2").mkdir()
    (root / "other/sh9").mkdir()
    kids = children(root / "seq", root)
    assert [(e.name, e.level) for e in kids] == [("First", "shot"), ("sh2", "shot"),
                                                 ("sh3", "shot")]
    assert children(root / "seq/sh3", root) == []  # the work area is no context
    assert children(root / "other", root) == []
    assert ContextIndex(root).build() == ["other", "seq", "seq/sh1", "seq/sh2", "seq/sh3"]


def test_a_huge_name_or_label_is_cut(studio):
    root = studio({"p/landscape.yaml": "level: project\nname: " + "N" * 100_000 + "\n"
                   "metadata: {label: " + "L" * 2_000_000 + ", icon: " + "i" * 5_000 + "}\n"})
    [p] = children(root, root)
    for text in (p.name, p.label, p.icon):
        assert len(text) == browse.TEXT_LIMIT and text.endswith("…")


def test_the_index_never_reads_a_file_linked_out_of_the_root(studio, tmp_path, monkeypatch):
    outside = tmp_path / "outside.yaml"
    outside.write_text("child_level: shot\n")
    root = studio({"seq/sh1/keep.txt": ""})
    (root / "seq/landscape.yaml").symlink_to(outside)
    read: list[str] = []
    real_read = browse.read_file

    def recording(path, *args, **kwargs):
        read.append(str(path))
        return real_read(path, *args, **kwargs)

    monkeypatch.setattr(browse, "read_file", recording)
    assert ContextIndex(root).build() == ["seq"]    # its file says nothing that is read
    assert not any(p.endswith("seq/landscape.yaml") for p in read)
