"""Attacks found by a hostile review of the first version of these defences, each planted
again: services running as root with writable studio folders, ``extends``, ports without a
host address, an empty ``security_opt``, look-alike project names, parent redirects past a
project's policy, host files and variables leaking into messages, FIFOs, lock-file links,
hidden contexts, and three inputs that crashed commands."""

from __future__ import annotations

import json
import os

import pytest

from attacks import plant, refused
from landscape.cascade import build_cascade
from landscape.engine.stack import compose_document, compose_project_name
from landscape.errors import LandscapeError
from landscape.plan import make_plan

SH010 = "projects/lighthouse/seq010/sh010"
PROJECT = "projects/lighthouse/landscape.yaml"


def _doc(example):
    return compose_document(make_plan(example / "projects/lighthouse"),
                            build_cascade(example / "projects/lighthouse"))


def test_a_service_without_user_runs_as_the_invoking_user(example):
    plant(example, PROJECT, "level: project\nservices: {s: {image: x, command: [id]}}\n")
    assert _doc(example)["services"]["s"]["user"] == f"{os.getuid()}:{os.getgid()}"


@pytest.mark.parametrize("user", ["'00'", "'0:0'", "root", "'1000:0'", "'artist:root'"])
def test_every_spelling_of_root_needs_privileges(example, cli, user):
    plant(example, PROJECT, f"level: project\nservices: {{s: {{image: x, user: {user}}}}}\n")
    refused(cli("check", example), "runs the service as root")


@pytest.mark.parametrize("user", ["' 0'", "'+0'", "'-0'", "':0'", "''", "'a:b:c'", "'0 '"])
def test_users_compose_might_read_as_root_are_refused(example, cli, user):
    plant(example, PROJECT, f"level: project\nservices: {{s: {{image: x, user: {user}}}}}\n")
    refused(cli("check", example), "must be NAME or UID")


@pytest.mark.parametrize("value", ['"false"', '"no"', "0"])
def test_read_only_must_be_a_real_boolean(example, cli, value):
    plant(example, PROJECT, "level: project\nservices: {s: {image: x, volumes: [{type: bind, "
          f"source: ../../packages, target: /p, read_only: {value}}}]}}}}\n")
    refused(cli("check", example), "read_only must be true or false")


def test_a_project_name_with_a_line_break_stays_data(example, tmp_path):
    import yaml

    from landscape.engine.stack import write_compose

    name = 'x\nvolumes: {hostroot: {driver: local, driver_opts: {device: "/"}}}\n#'
    path = write_compose(tmp_path, name, {"version": "3.8", "services": {}})
    assert yaml.safe_load(path.read_text()) == {"version": "3.8", "services": {}}


@pytest.mark.parametrize("value,message", [
    ('!unset "yes"', "!unset cannot be used on this value"),
    ("!append true", "!append cannot be used on this value"),
    ('"yes"', "must be a boolean")])
def test_merge_tags_cannot_hide_a_service_key(example, cli, value, message):
    plant(example, PROJECT, f"level: project\nservices: {{s: {{image: x, privileged: {value}}}}}\n")
    refused(cli("check", example), message)
    with pytest.raises(LandscapeError):
        _doc(example)


def test_a_removed_service_key_is_simply_absent(example):
    plant(example, PROJECT, 'level: project\nservices: {s: {image: x, privileged: !remove "yes"}}\n')
    assert "privileged" not in _doc(example)["services"]["s"]


def test_a_service_cannot_write_the_studio_root(example, cli):
    plant(example, PROJECT, "level: project\nservices: {s: {image: x, "
          "volumes: ['../..:/studio']}}\n")
    refused(cli("check", example), "writable would let containers change")


def test_extends_is_refused(example, cli, tmp_path):
    plant(tmp_path, "other.yaml", "services: {evil: {image: x, privileged: true}}\n")
    plant(example, PROJECT, "level: project\nservices: {s: {image: x, extends: "
          f"{{file: {tmp_path}/other.yaml, service: evil}}}}}}\n")
    refused(cli("check", example), "services.s.extends: service 's': extends takes "
            "configuration from elsewhere")


@pytest.mark.parametrize("ports", ["['80']", "['8000-8001']", "[{target: 80}]"])
def test_a_port_without_host_address_is_judged_as_every_interface(example, cli, ports):
    plant(example, PROJECT, f"level: project\nservices: {{s: {{image: x, ports: {ports}}}}}\n")
    refused(cli("check", example), "publishing a port on 0.0.0.0")


def test_an_empty_security_opt_keeps_no_new_privileges(example):
    plant(example, PROJECT, "level: project\nservices: {s: {image: x, security_opt: []}}\n")
    assert _doc(example)["services"]["s"]["security_opt"] == ["no-new-privileges:true"]


@pytest.mark.parametrize("kind", ["BIND", "Bind"])
def test_a_bind_in_other_case_is_still_a_bind(example, cli, kind):
    plant(example, PROJECT, "level: project\nservices: {s: {image: x, volumes: "
          f"[{{type: {kind}, source: /etc, target: /e}}]}}}}\n")
    refused(cli("check", example), "/etc is outside policy.allowed_mounts")


def test_look_alike_project_names_keep_their_own_stacks(tmp_path):
    assert compose_project_name(tmp_path, "Light.House") != \
        compose_project_name(tmp_path, "lighthouse")


def test_a_parent_redirect_cannot_skip_a_projects_narrowing(example, cli):
    plant(example, PROJECT, "level: project\npolicy: {allowed_mounts: [.]}\n")
    plant(example, f"{SH010}/landscape.yaml", "level: shot\nparent: ../../..\n"
          "storage: [{source: ../../../assets, target: /mnt/assets, mode: ro}]\n")
    (example / "projects/assets").mkdir()
    refused(cli("check", example), "projects/assets is outside policy.allowed_mounts")


def test_a_config_file_linked_to_a_host_file_is_not_read(example, cli, tmp_path):
    secret = tmp_path / "secret.yaml"
    secret.write_text("hunter2: the secret\n")
    (example / SH010 / "landscape.yaml").unlink()
    (example / SH010 / "landscape.yaml").symlink_to(secret)
    err = refused(cli("check", example), "outside the studio root: not read")
    assert "hunter2" not in err


def test_a_manifest_cannot_be_read_from_outside(example, cli, tmp_path):
    plant(tmp_path, "evil.yaml", "hunter2: 1\n")
    plant(example, f"{SH010}/landscape.yaml",
          f"level: shot\nmanifest: ../../../../../../../..{tmp_path}/evil\n")
    err = refused(cli("check", example), "is not a valid value here")
    assert "hunter2" not in err
    plant(example, f"{SH010}/landscape.yaml",
          f"level: shot\nmanifests_path: ['{tmp_path}']\nmanifest: evil\n")
    err = refused(cli("check", example), "is outside the studio root")
    assert "hunter2" not in err


def test_host_variables_stay_out_of_deeper_files(example, cli, monkeypatch):
    monkeypatch.setenv("SECRET_TOKEN", "hunter2")
    plant(example, f"{SH010}/landscape.yaml",
          "level: shot\nrez: {packages_path: ['/${SECRET_TOKEN}']}\n")
    err = refused(cli("check", example), "${SECRET_TOKEN}: a file below the studio root may")
    assert "hunter2" not in err


def test_a_fifo_does_not_hang_check(example, cli):
    (example / SH010 / "landscape.yaml").unlink()
    os.mkfifo(example / SH010 / "landscape.yaml")
    refused(cli("check", example), "sh010/landscape.yaml: is not a regular file")


def test_a_fifo_breaks_its_contexts_in_plan_as_in_check(example, cli, monkeypatch):
    """``plan`` reports a FIFO named ``landscape.yaml`` as ``check`` does: the contexts
    beneath it fail with the same words, the others are planned — and the FIFO is only
    looked at, never opened (a read would wait for a writer)."""
    import builtins
    import io

    import landscape.engine.docker as dk

    fifo = example / SH010 / "landscape.yaml"
    fifo.unlink()
    os.mkfifo(fifo)
    opened = []

    def spy(real):
        def open_(path, *args, **kwargs):
            if isinstance(path, (str, os.PathLike)) and os.fspath(path) == str(fifo):
                opened.append(path)
            return real(path, *args, **kwargs)
        return open_

    with monkeypatch.context() as m:
        m.setattr(dk, "_client", None)  # no engine: which images exist is not the point
        m.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        for module, name in ((os, "open"), (io, "open"), (builtins, "open")):
            m.setattr(module, name, spy(getattr(module, name)))
        r = cli("plan", example / "projects/lighthouse", "--json")
    assert r.code == 1 and "Traceback" not in r.err, r
    broken = {(c["context"], tuple(c["variants"])): c["errors"]
              for c in json.loads(r.out)["contexts"] if c["errors"]}
    line = f"{fifo}: is not a regular file: not read"
    assert broken == {(str(example / SH010), ()): [line],
                      (str(example / SH010), ("lighting",)): [line]}
    assert opened == []
    err = refused(cli("check", example), line)
    assert err.count("is not a regular file") == 1


def test_the_stack_lock_never_follows_a_link(example, tmp_path):
    from landscape.engine.stack import stack_dir, stack_lock
    from landscape.errors import EngineError

    victim = tmp_path / "victim"
    victim.write_text("precious")
    d = stack_dir(example, "lighthouse")
    d.mkdir(parents=True)
    (d / ".lock").symlink_to(victim)
    with pytest.raises(EngineError):
        with stack_lock(example, "lighthouse"):
            pass
    assert victim.read_text() == "precious"


@pytest.mark.parametrize("target", ["/etc", "/tmp", "/root", "/home", "/etc/mtab", "/usr",
                                    "/opt/rez"])
def test_targets_the_launch_owns_are_refused(example, cli, target):
    plant(example, f"{SH010}/landscape.yaml",
          f"level: shot\nstorage: [{{source: ., target: {target}}}]\n")
    refused(cli("check", example), f"target {target} is reserved")


def test_hidden_folders_hold_no_contexts(example, cli):
    plant(example, "projects/lighthouse/.hidden/landscape.yaml", "level: shot\n")
    refused(cli("resolve", example / "projects/lighthouse/.hidden"), "hidden folder")
    plant(example, f"{SH010}/landscape.yaml", "parent: ../../.hidden\n")
    refused(cli("check", example), "hidden folder")


def test_a_display_needs_the_root_to_allow_it(example, cli):
    plant(example, f"{SH010}/landscape.yaml", "level: shot\ntools: {python: {gui: true}}\n")
    refused(cli("check", example), "asks for gui but policy.allow_gui is false")


@pytest.mark.parametrize("text,message", [
    ('packages: ["python-3.11+<"]', "bad package request"),
    ('packages: ["python-3.11,"]', "bad package request"),
    ("services: {s: {image: x, deploy: {resources: [1, 2]}}}", None),
    ("tools: {python: {command: []}}", "should be non-empty"),
    ("image: {system_packages: [python3-]}", "is not a Debian package name"),
    ('image: {system_packages: ["vim\\n"]}', "is not a Debian package name"),
    ('image: {base: "debian\\n"}', "is not a Docker image reference"),
])
def test_inputs_that_crashed_are_errors(example, cli, text, message):
    plant(example, f"{SH010}/landscape.yaml", "level: shot\n" + text + "\n")
    r = cli("check", example)
    assert "Traceback" not in r.err
    if message:
        refused(r, message)


def test_a_redirect_into_a_folder_without_parent_is_a_loop_error(example, cli):
    plant(example, f"{SH010}/landscape.yaml", "level: shot\nparent: sub\n")
    plant(example, f"{SH010}/sub/landscape.yaml", "level: task\n")
    refused(cli("check", example), "redirects loop through")


def test_an_odd_request_on_the_command_line_is_an_error(example, cli):
    refused(cli("resolve", example / SH010, "-a", "python-3.11 blender"), "bad package request")


def test_variant_names_are_checked(example, cli):
    with pytest.raises(LandscapeError):
        build_cascade(example / SH010, ["../x"])
    refused(cli("resolve", example / SH010, "--variant", ""), "a variant name is")


def test_a_storage_folder_swapped_for_a_link_after_the_check_is_not_launched(example, tmp_path):
    from landscape.context import resolve
    from landscape.engine.launch import launch_spec, verify_binds

    data = example / "projects/data"
    data.mkdir()
    plant(example, f"{SH010}/landscape.yaml",
          f"level: shot\nstorage: [{{source: {data}, target: /mnt/data, mode: ro}}]\n")
    spec = launch_spec(resolve(example / SH010, tool="python"), [])
    verify_binds(spec)  # unchanged: fine
    data.rmdir()
    data.symlink_to("/")
    with pytest.raises(LandscapeError, match="changed since it was checked"):
        verify_binds(spec)


def test_the_studios_own_machinery_is_never_writable(example, cli):
    (example / ".git/hooks").mkdir(parents=True)
    plant(example, f"{SH010}/landscape.yaml",
          "level: shot\nstorage: [{source: ../../../../.git/hooks, target: /mnt/h}]\n")
    refused(cli("check", example), "writable would let containers change")


@pytest.mark.parametrize("text,message", [
    ('rez: {time: "-' + "9" * 400 + 'd"}', "too far back"),
    ("metadata: " + "{a: " * 80 + "1" + "}" * 80, "nests deeper than 64 levels"),
])
def test_extreme_values_are_errors(example, cli, text, message):
    plant(example, f"{SH010}/landscape.yaml", "level: shot\n" + text + "\n")
    refused(cli("check", example), message)


def test_a_long_chain_of_templates_is_an_error(example, cli):
    chain = "\n".join(f'  t{i}: "{{t{i + 1}}}"' for i in range(200))
    plant(example, PROJECT, f"level: project\ntemplates:\n  work: \"{{t0}}\"\n{chain}\n"
          "  t200: x\n")
    refused(cli("check", example), "templates refer to templates more than 32 deep")


def test_terminal_escapes_in_values_are_shown_escaped(example, cli):
    plant(example, f"{SH010}/landscape.yaml",
          'level: shot\nenv: {EVIL: "\\e]52;c;aGk=\\a\\e[31mred"}\n')
    r = cli("resolve", example / SH010)
    assert r.code == 0 and "\x1b" not in r.out and "\\x1b]52" in r.out


def test_a_fifo_in_an_override_fails_that_context_only(example, cli):
    root = example / "landscape.yaml"
    root.write_text(root.read_text() + "policy: {allowed_repositories: [projects]}\n")
    d = example / SH010 / "pk/python"
    d.mkdir(parents=True)
    (d / "package.yaml").write_text("name: python\noverride: true\n")
    os.mkfifo(d / "pipe")
    plant(example, f"{SH010}/landscape.yaml", "level: shot\nrez: {packages_path: [pk]}\n")
    err = refused(cli("check", example), "its files cannot be copied")
    assert "(17 ok)" in err  # sh010 and its lighting variant only
