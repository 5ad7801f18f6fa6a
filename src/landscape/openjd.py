"""``landscape render --emit openjd``: an Open Job Description job template (specification
version ``jobtemplate-2023-09``) whose one step renders each chunk through Landscape, in the
context's image pinned by its registry digest (docs/commands.md, render on a farm).

The template is plain data (:func:`job_template`) serialised by :func:`dump` with
``yaml.safe_dump`` or ``json.dumps`` — never by pasting text.

Shape:

- job parameters ``ContextPath`` (PATH, default the absolute context folder), ``Landscape``
  (STRING, default ``landscape``: the command the worker runs) and, when ``--root`` was
  given, ``StudioRoot`` (PATH);
- one step ``render`` whose parameter space is one STRING task parameter ``Frames`` listing
  each chunk's frames (:attr:`landscape.frames.Chunk.name`: ``1001-1002``, ``1-9x2``,
  ``7``) — the chunks a local render makes, so gaps and step changes are kept. (The
  ``CHUNK[INT]`` type needs the ``TASK_CHUNKING`` extension and lets the runner cut the
  chunks, which would not follow step changes, so it is not used);
- the step's ``onRun`` action: ``{{Param.Landscape}} render --tool=T [--variant=V…]
  --frames={{Task.Param.Frames}} --chunk=N --parallel=1 --retries=0 [--timeout=S]
  [--root={{Param.StudioRoot}}] --digest=sha256:… -- {{Param.ContextPath}}``: argv items,
  no shell.

Hostile text: in OpenJD 2023-09, ``{{ … }}`` inside a *format string* (the job name, the
command, each argument, each task value) is an expression, and the grammar has no escape
for a literal ``{{`` or ``}}``. Values substituted from parameters are not read again, so
paths — the likeliest to hold any character — travel as job parameter defaults (plain
strings, at most :data:`MAX_VALUE` characters). What must stand in a format string (the tool
and variant names) is refused when it holds ``{{``, ``}}`` or a control character
(:func:`literal`); the job name is a display name, made of the context's folders and the
tool with braces and control characters dropped. Pure data: no engine, no files.
"""

from __future__ import annotations

import json
import re
from typing import Any, Sequence

from .errors import LandscapeError
from .frames import Chunk

#: the template's specification version
SPECIFICATION = "jobtemplate-2023-09"
#: most values of a task parameter's range list in the 2023-09 specification
MAX_CHUNKS = 1024
#: longest job parameter value in the 2023-09 specification
MAX_VALUE = 1024
#: longest job name written (the specification allows more; farms show less)
MAX_NAME = 128
#: the task parameter holding a chunk's frames
FRAMES_PARAM = "Frames"

#: control characters (the Unicode Cc category, which OpenJD strings refuse)
_CC = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class TemplateError(LandscapeError):
    """A value that cannot go into a job template (one line)."""


def literal(what: str, value: str) -> str:
    """``value`` when it may stand as literal text in an OpenJD format string: not empty,
    no ``{{`` or ``}}`` (the grammar has no escape for them), no control character, at most
    :data:`MAX_VALUE` characters. Raises :class:`TemplateError` naming ``what`` otherwise."""
    if not value or "{{" in value or "}}" in value or _CC.search(value) \
            or len(value) > MAX_VALUE or not _utf8(value):
        raise TemplateError(f"{what} {_show(value)} cannot be written into an OpenJD job "
                            "template: '{{', '}}' and control characters would be read as "
                            "expressions or refused (OpenJD has no escape for them)")
    return value


def parameter_value(what: str, value: str) -> str:
    """``value`` when it may be a job parameter's default: at most :data:`MAX_VALUE`
    characters, encodable as UTF-8 (any other character is fine: a parameter's value is
    substituted, never read as an expression). Raises :class:`TemplateError` otherwise."""
    if not value or len(value) > MAX_VALUE or not _utf8(value):
        raise TemplateError(f"{what} {_show(value)} cannot be an OpenJD job parameter (empty, "
                            f"over {MAX_VALUE} characters, or not UTF-8)")
    return value


def _utf8(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _show(value: str) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:79] + "…"


def job_name(label: str, tool: str) -> str:
    """The job's display name: ``"<label> <tool>"`` with braces and control characters
    dropped (OpenJD reads ``{{`` in a name as an expression) and cut to :data:`MAX_NAME`
    characters; ``"landscape render"`` when nothing is left."""
    text = _CC.sub("", f"{label} {tool}").replace("{", "").replace("}", "")
    text = "".join(c for c in text if _utf8(c)).strip()[:MAX_NAME].strip()
    return text or "landscape render"


def task_args(*, tool: str, variants: Sequence[str], chunk: int, digest: str,
              timeout: float | None = None, root: bool = False) -> list[str]:
    """The ``onRun`` arguments (format strings, before substitution) of the render step:
    see the module's docstring. ``root`` adds ``--root={{Param.StudioRoot}}``."""
    args = ["render", f"--tool={tool}", *[f"--variant={v}" for v in variants],
            "--frames={{Task.Param.%s}}" % FRAMES_PARAM, f"--chunk={chunk}", "--parallel=1",
            "--retries=0"]
    if timeout is not None:
        args.append(f"--timeout={timeout:g}")
    if root:
        args.append("--root={{Param.StudioRoot}}")
    return [*args, f"--digest={digest}", "--", "{{Param.ContextPath}}"]


def job_template(*, context: str, tool: str, variants: Sequence[str], chunks: Sequence[Chunk],
                 chunk: int, digest: str, image: str, label: str, root: str | None = None,
                 timeout: float | None = None, command: str = "landscape") -> dict[str, Any]:
    """The job template (a ``dict`` ready for :func:`dump`) rendering ``chunks`` (one task
    each, in order) of ``context`` (an absolute folder, the ``ContextPath`` default) with
    ``tool`` (``T`` or ``T/V``) and context ``variants``, each task running Landscape
    (``command``, the ``Landscape`` default) with ``--chunk=chunk`` (the chunk size asked
    for) and ``--digest=digest`` (``sha256:…``; ``image`` is ``REPOSITORY@DIGEST``, shown in
    the description); ``root`` (an absolute folder) becomes the ``StudioRoot`` parameter;
    ``timeout`` (seconds) is passed on to each task's render. ``label`` names the job with
    the tool (:func:`job_name`).

    Raises :class:`TemplateError` for a tool or variant that cannot be literal text
    (:func:`literal`), a path that cannot be a parameter (:func:`parameter_value`), no
    chunks, or more than :data:`MAX_CHUNKS` chunks (the specification's limit on a range
    list: a larger ``--chunk`` makes fewer)."""
    literal("tool", tool)
    for v in variants:
        literal("variant", v)
    if not chunks:
        raise TemplateError("no frames to render: the job would have no tasks")
    if len(chunks) > MAX_CHUNKS:
        raise TemplateError(f"{len(chunks)} chunks: an OpenJD step holds at most {MAX_CHUNKS} "
                            f"tasks here; use a larger --chunk (now {chunk})")
    if not re.fullmatch(r"sha256:[0-9a-f]{64}", digest):
        raise TemplateError(f"digest {_show(digest)} is not sha256:<64 hex digits>")
    frames = sum(len(c.frames) for c in chunks)
    parameters: list[dict[str, Any]] = [
        {"name": "ContextPath", "type": "PATH", "objectType": "DIRECTORY", "dataFlow": "NONE",
         "default": parameter_value("context path", context),
         "description": "The context folder (a shot) as the workers see it: the studio must "
                        "be at the same path there as where the job was made."},
        {"name": "Landscape", "type": "STRING",
         "default": parameter_value("command", command),
         "description": "The landscape command on the workers (a name on PATH or a path)."},
    ]
    if root is not None:
        parameters.append(
            {"name": "StudioRoot", "type": "PATH", "objectType": "DIRECTORY",
             "dataFlow": "NONE", "default": parameter_value("studio root", root),
             "description": "The studio root folder (landscape render --root)."})
    action: dict[str, Any] = {
        "command": "{{Param.Landscape}}",
        "args": task_args(tool=tool, variants=variants, chunk=chunk, digest=digest,
                          timeout=timeout, root=root is not None),
    }
    return {
        "specificationVersion": SPECIFICATION,
        "name": job_name(label, tool),
        "description": _CC.sub("", f"Landscape render: {frames} frame(s) in {len(chunks)} "
                                   f"chunk(s), each in image {image}; frames are verified by "
                                   "Landscape, a failed task exits non-zero.")[:2048],
        "parameterDefinitions": parameters,
        "steps": [{
            "name": "render",
            "parameterSpace": {"taskParameterDefinitions": [
                {"name": FRAMES_PARAM, "type": "STRING", "range": [c.name for c in chunks]},
            ]},
            "script": {"actions": {"onRun": action}},
        }],
    }


def dump(template: dict[str, Any], as_json: bool = False) -> str:
    """``template`` as YAML (``yaml.safe_dump``, keys in the order built, every non-ASCII
    character written as an escape: written raw, a NEL or line separator in a path would be
    read back as a line break) or, with ``as_json``, as indented JSON; ends with a
    newline. Either reads back to exactly ``template``."""
    if as_json:
        return json.dumps(template, indent=2, ensure_ascii=False) + "\n"
    import yaml

    return yaml.safe_dump(template, sort_keys=False, allow_unicode=False, width=100)
