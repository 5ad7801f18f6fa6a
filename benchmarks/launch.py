#!/usr/bin/env python3
"""Launch timings against a real Docker engine; prints figures, asserts nothing.

    python benchmarks/launch.py [--studio DIR] [-n N] [--keep]

Builds what it needs: a python-only synthetic studio (benchmarks/synth.py) in a temporary
folder (or DIR, reused when it is there), the base image when missing, and the project's one
image (a few minutes on an empty engine, nothing when it exists). Then, as whole processes,
alternating each pair and printing the median of N pairs (default 7) and their ratio:

- cold: `landscape launch SHOT --tool python -- -c pass` against
  `docker run --rm IMAGE python3 -c pass` (rez's python package puts `python` on PATH through
  the launch environment; plain `docker run` gets the image's PATH, so it runs `python3`),
  through the user's launch agent (what a launch without a terminal gets) and without it
  (`LANDSCAPE_NO_AGENT=1`: what a launch from a terminal gets);
- cold, engine side: the same launch from a resolved LaunchSpec (a Python process that
  imports only the launch module and runs it: what the launch costs besides resolving),
  against plain `docker run` and against `docker run` with the same flags as the launch's
  container (hardening, tmpfs, mounts, environment): the second ratio is Landscape's own
  overhead, the first also counts what the container's configuration costs the engine;
- warm: `landscape launch --warm …` against `docker exec WORKSPACE python3 -c pass` into the
  same running workspace, with and without the agent; and its engine side, as above;
- `landscape resolve SHOT --tool python --json` alone, for the share resolving takes, and
  `landscape build PROJECT` when its image exists (a no-op build).

Landscape's modules are compiled to bytecode first, as an install does (a checkout run with
``PYTHONDONTWRITEBYTECODE`` would compile them in every process). The workspace the warm
launches use and the launch agent are stopped at the end (`--keep` leaves the workspace
running, and the studio in place when it was made in a temporary folder).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LANDSCAPE = [sys.executable, "-m", "landscape"]

def engine_only(spec_file: Path, warm: bool) -> int:
    """Run a saved LaunchSpec (the engine side of a launch, no resolve); called before the
    benchmark's own imports, so the process imports little besides the launch modules."""
    from landscape.engine.launch import LaunchSpec, run
    from landscape.userstate import UserState

    data = json.loads(spec_file.read_text())
    data["binds"] = [tuple(b) for b in data["binds"]]
    data["unchecked"] = set(data["unchecked"])
    data["home_state"] = UserState.from_record(data["home_state"])
    data["home_names"] = tuple(data["home_names"])
    data["secret_env"] = frozenset(data["secret_env"])
    meta = data.pop("_warm")
    spec = LaunchSpec(**data)
    if warm:
        from landscape.engine.workspace import run_warm

        return run_warm(spec, meta["root"], meta["project"], meta["idle"], tty=False,
                        stdin=False)
    return run(spec)


if __name__ == "__main__" and sys.argv[1:2] == ["--engine-only"]:
    sys.exit(engine_only(Path(sys.argv[2]), "--warm" in sys.argv[3:]))


import argparse  # noqa: E402 - after the engine-only path's imports (see engine_only)
import shutil  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402


#: the environment of a launch without the agent
NO_AGENT = {**os.environ, "LANDSCAPE_NO_AGENT": "1"}


def once(cmd: list[str], env: dict | None = None) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, cwd=REPO, env=env,
                   stdin=subprocess.DEVNULL)
    return time.perf_counter() - t


def pairs(a: list[str], b: list[str], n: int, env: dict | None = None) -> tuple[float, float]:
    """Median seconds of ``a`` (run with ``env``) and of ``b`` over ``n`` alternating runs
    (after one of each to warm caches)."""
    once(a, env), once(b)
    ta, tb = [], []
    for _ in range(n):
        ta.append(once(a, env))
        tb.append(once(b))
    return statistics.median(ta), statistics.median(tb)


def row(label: str, ours: float, theirs: float, theirs_label: str) -> None:
    print(f"{label:<44} {ours * 1000:7.0f} ms   {theirs_label:<28} {theirs * 1000:7.0f} ms"
          f"   ratio {ours / theirs:4.2f}")


def prepare(studio: Path | None) -> tuple[Path, Path]:
    """The synthetic studio's shot and a temporary folder to remove (or ``None``)."""
    made = None
    if studio is None:
        made = Path(tempfile.mkdtemp(prefix="landscape-bench-launch-"))
        studio = made / "studio"
    if not (studio / "projects/film").is_dir():
        sys.path.insert(0, str(REPO / "benchmarks"))
        from synth import make_studio

        make_studio(studio, 10, python_only=True)
    subprocess.run([*LANDSCAPE, "base", "build"], check=True, capture_output=True)
    subprocess.run([*LANDSCAPE, "build", str(studio / "projects/film")], check=True,
                   capture_output=True)
    shot = sorted(p for p in (studio / "projects/film").glob("*/*") if p.is_dir()
                  and (p / "landscape.yaml").is_file())[0]
    return shot, made


def same_flags(data: dict) -> list[str]:
    """A ``docker run --rm`` with the flags a launch's container has (user, groups, init,
    read-only root, tmpfs, dropped capabilities, no-new-privileges, process limit, shm, the
    storage and generated-file mounts, the environment), running the same entry and tool:
    the reference that shows what the container's configuration itself costs the engine.
    (A benchmark of simple paths only: Landscape itself never builds such a command line.)"""
    home = data["home"]
    argv = ["docker", "run", "--rm", "--init", "--read-only", "--cap-drop", "ALL",
            "--security-opt", "no-new-privileges:true", "--pids-limit",
            str(data["pids_limit"]), "--shm-size", "1g", "--user",
            f"{data['uid']}:{data['gid']}", "--tmpfs", "/tmp", "--tmpfs", "/var/tmp",
            "--tmpfs", "/run"]
    if data["home_source"]:  # launch.home: persistent (or host)
        argv += ["--mount", f"type=bind,source={data['home_source']},target={home}"]
    else:
        argv += ["--tmpfs", f"{home}:uid={data['uid']},mode=0700"]
    for g in data["group_add"]:
        argv += ["--group-add", g]
    for source, target, mode in data["binds"]:
        argv += ["--mount", f"type=bind,source={source},target={target}"
                 + (",readonly" if mode == "ro" else "")]
    for target in data["files"]:  # any host file will do: only the mount is measured
        argv += ["--mount", f"type=bind,source={os.devnull},target={target},readonly"]
    for k, v in sorted(data["environment"].items()):
        argv += ["--env", f"{k}={v}"]
    return [*argv, data["image"], *data["argv"]]


def save_spec(shot: Path, dest: Path) -> tuple[dict, str]:
    """Resolve ``shot``'s python tool once and save its LaunchSpec (image by id)."""
    from landscape.context import resolve
    from landscape.engine.images import image_id
    from landscape.engine.launch import launch_spec
    from landscape.cascade import warm_idle

    rc = resolve(shot, tool="python")
    spec = launch_spec(rc, ["-c", "pass"])
    spec.image = image_id(rc.image)
    data = {k: (sorted(v) if isinstance(v, (set, frozenset)) else v)
            for k, v in vars(spec).items()}
    data["files"] = {k: (v if isinstance(v, str) else v.decode()) for k, v in
                     spec.files.items()}
    data["home_state"] = spec.home_state.to_record()
    data["secret_files"] = {}  # the benchmark's studio declares no secrets
    data["_warm"] = {"root": str(rc.cascade.root), "project": rc.project,
                     "idle": warm_idle(rc.cascade.files[0].node)}
    dest.write_text(json.dumps(data))
    return data, rc.image.tag


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--studio", type=Path)
    ap.add_argument("-n", type=int, default=7)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    shot, made = prepare(args.studio)
    spec_file = Path(tempfile.mkdtemp(prefix="landscape-bench-spec-")) / "spec.json"
    try:
        data, tag = save_spec(shot, spec_file)
        image = data["image"]
        launch = [*LANDSCAPE, "launch", str(shot), "--tool", "python", "--", "-c", "pass"]
        warm = [*LANDSCAPE, "launch", "--warm", str(shot), "--tool", "python", "--", "-c",
                "pass"]
        bench = [sys.executable, __file__, "--engine-only", str(spec_file)]
        print(f"image {tag} ({image[:19]}), {args.n} alternating pairs, medians; "
              f"{os.cpu_count()} cores")
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "src")],
                       check=True, capture_output=True)
        once(launch)  # starts the launch agent
        time.sleep(3)
        plain = ["docker", "run", "--rm", image, "python3", "-c", "pass"]
        cold, run = pairs(launch, plain, args.n)
        row("cold: landscape launch (agent)", cold, run, "docker run --rm")
        cold, run = pairs(launch, plain, args.n, NO_AGENT)
        row("cold: landscape launch (no agent)", cold, run, "docker run --rm")
        engine, run = pairs(bench, ["docker", "run", "--rm", image, "python3", "-c", "pass"],
                            args.n)
        row("cold, engine side (no resolve)", engine, run, "docker run --rm")
        engine, same = pairs(bench, same_flags(data), args.n)
        row("cold, engine side (no resolve)", engine, same, "docker run, launch's flags")
        subprocess.run(warm, check=True, capture_output=True)  # the workspace is up
        from landscape.engine.workspace import workspaces

        ws = [w["name"] for w in workspaces() if w["image"] == image and w["state"] ==
              "running"][0]
        user = f"{data['uid']}:{data['gid']}"
        exec_ = ["docker", "exec", "-u", user, ws, "python3", "-c", "pass"]
        hot, ex = pairs(warm, exec_, args.n)
        row("warm: landscape launch --warm (agent)", hot, ex, "docker exec")
        hot, ex = pairs(warm, exec_, args.n, NO_AGENT)
        row("warm: landscape launch --warm (no agent)", hot, ex, "docker exec")
        engine, ex = pairs([*bench, "--warm"], exec_, args.n)
        row("warm, engine side (no resolve)", engine, ex, "docker exec")
        resolve = statistics.median(
            once([*LANDSCAPE, "resolve", str(shot), "--tool", "python", "--json"])
            for _ in range(args.n))
        print(f"{'landscape resolve --json (for reference)':<44} {resolve * 1000:7.0f} ms")
        build = statistics.median(once([*LANDSCAPE, "build", str(shot.parent.parent)])
                                  for _ in range(args.n))
        print(f"{'landscape build PROJECT (no-op)':<44} {build * 1000:7.0f} ms")
        if not args.keep:
            subprocess.run([*LANDSCAPE, "stop", str(shot)], check=True, capture_output=True)
    finally:
        subprocess.run([*LANDSCAPE, "stop", "--agents"], capture_output=True)
        shutil.rmtree(spec_file.parent, ignore_errors=True)
        if made is not None and not args.keep:
            shutil.rmtree(made, ignore_errors=True)


if __name__ == "__main__":
    main()
