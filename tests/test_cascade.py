"""Discovery and merge of config files: root, variants, parent redirects, levels, errors."""

import pytest

from landscape.cascade import build_cascade
from landscape.errors import ConfigError, ErrorGroup, LandscapeError


def files_of(c):
    return [str(f.path.relative_to(c.root)) for f in c.files]


def test_walks_up_to_the_root_applying_root_first(studio):
    root = studio({
        "proj/landscape.yaml": "level: project\nmetadata: {fps: 24}\n",
        "proj/seq/shot/landscape.yaml": "level: shot\nmetadata: {fps: 25}\n",
    })
    c = build_cascade(root / "proj/seq/shot")
    assert files_of(c) == ["landscape.yaml", "proj/landscape.yaml", "proj/seq/shot/landscape.yaml"]
    assert c.level_values == {"project": "proj", "shot": "shot"}
    assert c.plain("metadata") == {"fps": 25}


def test_context_need_not_exist(studio):
    root = studio({"proj/landscape.yaml": "level: project\n"})
    c = build_cascade(root / "proj/not/there")
    assert c.context == root / "proj/not/there"
    assert c.level_values == {"project": "proj"}


def test_no_studio_root_is_an_error(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a/landscape.yaml").write_text("level: project\n")
    with pytest.raises(ConfigError, match="no studio root above"):
        build_cascade(tmp_path / "a")


def test_variant_applies_right_after_the_plain_file_of_its_directory(studio):
    root = studio({
        "p/landscape.yaml": "level: project\nmetadata: {a: plain, b: plain}\n",
        "p/landscape.anim.yaml": "metadata: {a: variant, c: variant}\n",
        "p/s/landscape.yaml": "metadata: {b: deeper, c: deeper}\n",
    })
    c = build_cascade(root / "p/s", variants=["anim"])
    assert files_of(c) == ["landscape.yaml", "p/landscape.yaml", "p/landscape.anim.yaml",
                           "p/s/landscape.yaml"]
    # the variant wins over its directory's plain file, deeper files win over the variant
    assert c.plain("metadata") == {"a": "variant", "b": "deeper", "c": "deeper"}


def test_variant_without_plain_file_and_several_variants_in_order(studio):
    root = studio({
        "p/landscape.dev.yaml": "metadata: {x: dev}\n",
        "p/landscape.anim.yaml": "metadata: {x: anim, y: anim}\n",
    })
    c = build_cascade(root / "p", variants=["anim", "dev"])
    assert files_of(c)[1:] == ["p/landscape.anim.yaml", "p/landscape.dev.yaml"]
    assert c.plain("metadata") == {"x": "dev", "y": "anim"}
    assert c.variants == ("anim", "dev")


def test_parent_redirect_skips_natural_ancestors(studio):
    root = studio({
        "library/landscape.yaml": "metadata: {from: library}\npackages: [lib]\n",
        "proj/landscape.yaml": "level: project\nmetadata: {from: proj}\npackages: [proj]\n",
        "proj/shared/asset/landscape.yaml": "parent: ../../../library\nlevel: asset\n",
    })
    c = build_cascade(root / "proj/shared/asset")
    assert files_of(c) == ["landscape.yaml", "library/landscape.yaml",
                           "proj/shared/asset/landscape.yaml"]
    assert c.plain("packages") == ["lib"]
    assert c.level_values == {"asset": "asset"}


def test_parent_with_env_var(studio, monkeypatch):
    root = studio({"lib/landscape.yaml": "metadata: {x: 1}\n",
                   "a/b/landscape.yaml": "parent: ${LANDSCAPE_LIBDIR}\n"})
    monkeypatch.setenv("LANDSCAPE_LIBDIR", str(root / "lib"))
    assert build_cascade(root / "a/b").plain("metadata") == {"x": 1}


def test_parent_loop_names_the_files(studio):
    root = studio({"a/landscape.yaml": "parent: ../b\n", "b/landscape.yaml": "parent: ../a\n"})
    with pytest.raises(ConfigError) as e:
        build_cascade(root / "a")
    assert "loop" in str(e.value)
    assert "a/landscape.yaml" in str(e.value) and "b/landscape.yaml" in str(e.value)


def test_missing_parent_is_an_error_with_location(studio):
    root = studio({"a/landscape.yaml": "level: x\nparent: ../nowhere\n"})
    with pytest.raises(ConfigError) as e:
        build_cascade(root / "a")
    assert "a/landscape.yaml:2:9: parent: parent directory" in str(e.value)


def test_relative_paths_are_relative_to_the_file_that_wrote_them(studio):
    root = studio({"proj/landscape.yaml": "rez: {packages_path: [pkgs]}\n"
                                          "storage: [{source: ../shared, target: /shared}]\n"})
    c = build_cascade(root / "proj")
    assert c.plain("rez")["packages_path"] == [str(root / "proj/pkgs"), str(root / "packages")]
    assert c.plain("storage") == [{"source": str(root / "shared"), "target": "/shared",
                                   "mode": "rw"}]


def test_deeper_level_of_the_same_name_wins(studio):
    root = studio({"p/landscape.yaml": "level: project\nname: The P\n",
                   "p/s/landscape.yaml": "level: shot\n", "p/s/t/landscape.yaml": "level: shot\n"})
    c = build_cascade(root / "p/s/t")
    assert c.level_values == {"project": "p", "shot": "t"}
    assert c.levels[0].name == "The P"


def test_every_error_of_every_file_is_reported_with_location(studio):
    root = studio({"p/landscape.yaml": "level: project\nmetdata: {a: 1}\n",
                   "p/s/landscape.yaml": "packages: 3\ntools: {x: {gui: maybe}}\n"})
    with pytest.raises(ErrorGroup) as e:
        build_cascade(root / "p/s")
    text = str(e.value)
    assert "p/landscape.yaml:2:1: metdata: unknown key 'metdata' (did you mean 'metadata'?)" in text
    assert "p/s/landscape.yaml:1:11: packages: must be an array, not integer" in text
    assert "p/s/landscape.yaml:2:18: tools.x.gui: must be a boolean, not string" in text


def test_root_in_a_variant_file_is_an_error(studio):
    root = studio({"p/landscape.dev.yaml": "root: true\n"})
    with pytest.raises(LandscapeError, match="root: may only be set in a plain landscape.yaml"):
        build_cascade(root / "p", variants=["dev"])


def test_a_broken_file_breaks_only_the_contexts_beneath_it(studio):
    root = studio({"p/a/landscape.yaml": "level: shot\nmetadata: [1, 2\n",
                   "p/b/landscape.yaml": "level: shot\n"})
    with pytest.raises(LandscapeError):
        build_cascade(root / "p/a")
    assert build_cascade(root / "p/b").level_values == {"shot": "b"}
