"""Policy (docs/security.md): mounts, displays and GPUs a context may ask for; errors at check."""

from landscape.check import check


def errors_of(root):
    return [str(e) for e in check(root).errors]


def test_mount_outside_allowed_mounts_is_an_error_at_check(studio):
    root = studio({"landscape.yaml": """
        root: true
        rez: {packages_path: [packages]}
        policy: {allowed_mounts: [/mnt/projects]}
        storage: [{source: /mnt/projects}]
    """, "p/landscape.yaml": "storage: [{source: /etc, target: /data}]\n"})
    errs = errors_of(root)
    assert any("p/landscape.yaml:1:20: storage.source: /etc is outside "
               "policy.allowed_mounts (/mnt/projects" in e for e in errs), errs


def test_docker_socket_mount_needs_the_root_policy_to_name_it(studio):
    root = studio({"p/landscape.yaml": "storage: [{source: /var/run/docker.sock}]\n"})
    assert any("storage.source: /var/run/docker.sock (really /run/docker.sock) is outside "
               "policy.allowed_mounts" in e for e in errors_of(root))
    named = studio({"landscape.yaml": """
        root: true
        rez: {packages_path: [packages]}
        policy: {allowed_mounts: [/var/run/docker.sock]}
        storage: [{source: /var/run/docker.sock}]
    """})
    assert errors_of(named) == []


def test_gui_tool_where_policy_forbids_it(studio):
    root = studio({"landscape.yaml": """
        root: true
        rez: {packages_path: [packages]}
        policy: {allow_gui: false}
        tools: {viewer: {gui: true, packages: [python-3.11]}}
    """})
    errs = errors_of(root)
    assert any("landscape.yaml:4:23: tools.viewer.gui: tool 'viewer' asks for gui but "
               "policy.allow_gui is false" in e for e in errs), errs


def test_deeper_file_may_not_widen_policy(studio):
    root = studio({"landscape.yaml": """
        root: true
        rez: {packages_path: [packages]}
        policy: {allow_gpu: false}
    """, "p/landscape.yaml": "policy: {allow_gpu: true}\n"})
    assert any("p/landscape.yaml:1:21: policy.allow_gpu: policy may only narrow" in e
               for e in errors_of(root))
