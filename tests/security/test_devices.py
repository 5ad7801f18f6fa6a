"""Displays and GPUs under policy: a config cannot reach GPUs or a display the root did not
grant — not through ``gui``/``gpu``, not through the NVIDIA runtime's environment variables,
not through ``DISPLAY``/``XAUTHORITY`` — and a launch that cannot have its display is a
one-line refusal (no engine needed: each is refused before an image is looked at)."""

from __future__ import annotations

from attacks import plant, refused
from landscape.context import resolve
from landscape.engine.gpu import GpuHost
from landscape.engine.launch import container_config, launch_spec

SH010 = "projects/lighthouse/seq010/sh010"
NVIDIA = GpuHost(nvidia=True, nvidia_toolkit=True, dri=(("/dev/dri/renderD128", 993),))


def test_config_cannot_ask_the_nvidia_runtime_for_gpus(example):
    """On a machine whose default runtime is NVIDIA's, ``NVIDIA_VISIBLE_DEVICES`` alone gives
    a container GPUs; a config (or an image's ENV) that sets it gets ``void``."""
    root = example / "landscape.yaml"
    root.write_text(root.read_text() + "policy: {allow_gpu: false}\n")
    plant(example, f"{SH010}/landscape.yaml", """
        level: shot
        env: {NVIDIA_VISIBLE_DEVICES: all, NVIDIA_DRIVER_CAPABILITIES: all}
    """)
    spec = launch_spec(resolve(example / SH010, tool="python"), [], gpus=NVIDIA)
    config = container_config(spec, [])
    assert "NVIDIA_VISIBLE_DEVICES=void" in config["Env"]
    assert "NVIDIA_VISIBLE_DEVICES=all" not in config["Env"]
    host = config["HostConfig"]
    assert host["DeviceRequests"] is None and host["Devices"] is None


def test_a_gpu_the_policy_forbids_is_never_launched(example, cli):
    root = example / "landscape.yaml"
    root.write_text(root.read_text() + "policy: {allow_gpu: false}\n")
    plant(example, f"{SH010}/landscape.yaml", "level: shot\ntools: {python: {gpu: true}}\n")
    err = refused(cli("launch", example / SH010, "--tool", "python"),
                  "sh010/landscape.yaml:2:23: tools.python.gpu: tool 'python' asks for gpu "
                  "but policy.allow_gpu is false")
    assert len(err.strip().splitlines()) == 1


def test_a_display_the_policy_forbids_is_never_launched(example, cli, monkeypatch):
    monkeypatch.setenv("DISPLAY", ":0")
    plant(example, f"{SH010}/landscape.yaml", "level: shot\ntools: {python: {gui: true}}\n")
    err = refused(cli("launch", example / SH010, "--tool", "python"),
                  "tools.python.gui: tool 'python' asks for gui but policy.allow_gui is false")
    assert len(err.strip().splitlines()) == 1


def _gui_launch(example, cli):
    root = example / "landscape.yaml"
    root.write_text(root.read_text() + "policy: {allow_gui: true}\n")
    plant(example, f"{SH010}/landscape.yaml", "level: shot\ntools: {python: {gui: true}}\n")
    return cli("launch", example / SH010, "--tool", "python")


def test_a_gui_launch_without_a_display_is_one_line(example, cli, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    err = refused(_gui_launch(example, cli),
                  "tool 'python' asks for a display (gui: true), but neither DISPLAY nor "
                  "WAYLAND_DISPLAY is set")
    assert len(err.strip().splitlines()) == 1


def test_a_display_that_is_not_one_is_one_line(example, cli, monkeypatch):
    monkeypatch.setenv("DISPLAY", "evil\n:0")
    err = refused(_gui_launch(example, cli), "is not an X display this launch can use")
    assert len(err.strip().splitlines()) == 1
