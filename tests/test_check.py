"""`landscape check`: everything a studio can get wrong, all reported, each with its place."""

from landscape.check import check

SH010 = "projects/lighthouse/seq010/sh010"


def texts(report):
    return [str(e) for e in report.errors]


def test_the_example_checks_clean_also_from_a_subfolder(example):
    assert texts(check(example)) == []
    assert texts(check(example / "projects/lighthouse/assets")) == []


def test_unknown_field_in_a_tool_workdir(example):
    (example / SH010 / "landscape.yaml").write_text(
        "level: shot\ntools: {blender: {workdir: '{root}/{bogus}/x'}}\n")
    errs = texts(check(example))
    assert any("sh010/landscape.yaml:2:28: tools.blender.workdir: unknown template field "
               "{bogus}" in e for e in errs), errs


def test_malformed_workdir_and_template_cycle(example):
    (example / SH010 / "landscape.yaml").write_text(
        "level: shot\ntemplates: {work: '{root}/{work2}', work2: '{work}'}\n"
        "tools: {python: {workdir: '{root'}}\n")
    errs = texts(check(example))
    assert any("tools.python.workdir: bad template" in e for e in errs), errs
    assert any("template cycle: work -> work2 -> work" in e for e in errs), errs


def test_variant_file_errors_are_checked(example):
    variant = example / "projects/lighthouse/landscape.lighting.yaml"
    variant.write_text("root: true\nparent: ..\n")
    errs = texts(check(example))
    assert any("landscape.lighting.yaml:1:1: root: may only be set in a plain" in e
               for e in errs), errs
    assert any("landscape.lighting.yaml:2:1: parent: may only be set in a plain" in e
               for e in errs), errs


def test_broken_root_file_is_reported_once(example):
    (example / "landscape.yaml").write_text("root: true\nrez: {}\nrez: {}\n")
    errs = texts(check(example))
    assert len(errs) == 1 and "rez: duplicate key" in errs[0], errs


def test_a_folder_that_cannot_be_searched_is_reported(tmp_path):
    from landscape.cascade import find_config_files

    errors = []  # os.walk reports a folder it cannot list (here: gone) through onerror
    assert find_config_files(tmp_path / "gone", errors) == []
    assert len(errors) == 1 and "cannot search this folder" in str(errors[0])


def test_unknown_feature_and_invalid_service(example):
    (example / "projects/lighthouse/landscape.yaml").write_text(
        "level: project\nfeatures: {nope: {}}\n"
        "services: {db: {image: 3, bogus_key: 1}, web: {ports: [80]}}\n")
    errs = texts(check(example))
    assert any("features.nope: unknown feature 'nope'" in e for e in errs), errs
    assert any("services.db.image: must be a string, not integer" in e for e in errs), errs
    assert any("services.db.bogus_key: unknown key" in e for e in errs), errs
    assert any("services.web: a service needs an image" in e for e in errs), errs


def test_privileged_service_and_widened_defaults(example):
    project = example / "projects/lighthouse/landscape.yaml"
    project.write_text("level: project\npolicy: {allow_privileged: true}\n")
    errs = texts(check(example))
    assert any("policy.allow_privileged: policy may only narrow" in e for e in errs), errs
    project.write_text("level: project\n"
                       "services: {agent: {image: x, privileged: true, network_mode: host}}\n")
    errs = texts(check(example))
    assert any("services.agent.privileged: service 'agent': privileged gives the container "
               "every privilege of root; it needs policy.allow_privileged" in e
               for e in errs), errs
    assert any("services.agent.network_mode: service 'agent': network_mode 'host' puts the "
               "service on the host network; it needs policy.allow_host_network" in e
               for e in errs), errs


def test_rez_time_may_be_a_yaml_date(example):
    (example / SH010 / "landscape.yaml").write_text("level: shot\nrez: {time: 2025-01-01}\n")
    assert texts(check(example)) == []
