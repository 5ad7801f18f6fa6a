"""The build plan without the engine: contexts, Dockerfile, build context, compose file."""

import yaml

from landscape.cascade import build_cascade
from landscape.context import resolve
from landscape.engine.stack import compose_document
from landscape.engine.buildcontext import build_args, prepare_build_context
from landscape.plan import enumerate_contexts, make_plan
from landscape.recipe import render_dockerfile

SH020 = "projects/lighthouse/seq010/sh020"


def test_enumerate_contexts_with_variants(example):
    ctxs = enumerate_contexts(example / "projects/lighthouse")
    rel = {(str(p.relative_to(example)), v) for p, v in ctxs}
    assert ("projects/lighthouse/seq010/sh020", ()) in rel
    assert ("projects/lighthouse/seq010/sh020", ("lighting",)) in rel
    assert len(ctxs) == 18


def test_variants_follow_a_parent_redirect(example):
    """A shot whose ``parent:`` leads into another sequence gets the variants whose files lie
    on its walk there (as ``resolve --variant`` applies them), not those of the sequence it
    sits in; a shot below a redirected sequence inherits the redirect."""
    lh = example / "projects/lighthouse"
    (lh / "library").mkdir()
    (lh / "library/landscape.yaml").write_text("level: sequence\n")
    (lh / "library/landscape.night.yaml").write_text("metadata: {night: true}\n")
    (lh / "seq010/landscape.dusk.yaml").write_text("metadata: {dusk: true}\n")
    shot = lh / "seq010/shx"
    shot.mkdir()
    (shot / "landscape.yaml").write_text("parent: ../../library\nlevel: shot\n")
    ctxs = {(p, v) for p, v in enumerate_contexts(lh)}
    assert (shot, ("night",)) in ctxs and (shot, ("lighting",)) in ctxs
    assert (shot, ("dusk",)) not in ctxs  # seq010 is not on its walk
    assert (lh / "seq010/sh020", ("dusk",)) in ctxs and (lh / "seq010/sh020", ("night",)) \
        not in ctxs
    assert resolve(shot, variants=["night"]).to_json()["metadata"]["night"] is True


def test_dockerfile_layers_from_most_shared(example):
    spec = resolve(example / SH020).image
    text = render_dockerfile(spec)
    lines = [line.split()[0] for line in text.splitlines() if line and line[0].isupper()]
    layers = spec.layers()
    assert [p.name for layer in layers for p in layer] == [
        "studio_pipeline", "blender", "python"]  # one repository: heaviest first
    assert lines == ["FROM", "ARG", "ARG", "ARG", "COPY", "RUN",  # the fetch stage
                     "FROM", "ENV", "COPY", "RUN", "COPY", "RUN"] + ["COPY"] * len(layers) + [
                     "COPY", "RUN"]
    assert "COPY packages/2/ /\n" in text
    assert "FROM landscape/base:bookworm AS fetch" in text
    assert "COPY --from=fetch /landscape-debs/ " in text  # only .deb files leave the stage
    assert "LABEL" not in text  # labels go to the engine as data
    assert "blender" not in text  # OS packages are build arguments, checked by their grammar
    assert build_args(spec)["LANDSCAPE_OS_PACKAGES"] == "blender python3 python3-venv"
    assert "--mount" not in text and "<<" not in text  # no BuildKit-only syntax


def test_build_context_layout(example, tmp_path):
    spec = resolve(example / SH020).image
    context = prepare_build_context(spec, log=lambda s: None)
    d = context.folder
    try:
        assert (d / "Dockerfile").is_file()
        assert list((d / "rez").glob("rez-3.4.0-*.whl"))
        assert not (d / "packages").exists()  # payloads are streamed, never copied
        names = context.names()
        pipeline = "packages/0/landscape/packages/studio_pipeline/1.0.0"
        assert pipeline + "/blender/startup/studio_scene.py" in names
        assert not any("studio_pipeline/1.1.0" in n for n in names)
        assert "packages/2/landscape/packages/python/3.11/bin/python" in names
        assert (d / "landscape/bin/landscape-enter").stat().st_mode & 0o111
    finally:
        context.remove()
    assert not d.exists()


def test_compose_document_has_a_workspace_per_image(example):
    plan = make_plan(example / "projects/lighthouse")
    doc = compose_document(plan, build_cascade(example / "projects/lighthouse"))
    assert doc["version"] == "3.8"
    workspaces = [s for s in doc["services"] if s.startswith("workspace-")]
    assert len(workspaces) == 2
    ws = doc["services"][workspaces[0]]
    assert ws["init"] is True
    assert ws["volumes"][0]["source"] == ws["volumes"][0]["target"] == str(example / "projects")
    yaml.safe_dump(doc)  # serialisable


def test_features_from_the_catalog_and_declared_services(example):
    (example / "projects/lighthouse/landscape.yaml").write_text(
        "level: project\npackages: [studio_pipeline-1.1]\nfeatures: {dailies: {port: 8099}}\n"
        "services: {notes: {image: landscape/base:bookworm, command: [sleep, infinity]}}\n")
    plan = make_plan(example / "projects/lighthouse")
    doc = compose_document(plan, build_cascade(example / "projects/lighthouse"))
    assert doc["services"]["dailies"]["ports"] == ["127.0.0.1:8099:8080"]
    assert doc["services"]["notes"]["image"] == "landscape/base:bookworm"
