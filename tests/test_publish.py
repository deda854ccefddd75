"""The publishing workflow cannot run here: validate its YAML, its structure and that the
commands it runs are the README's."""

import re

import yaml

from conftest import ROOT

WORKFLOW = ROOT / ".github" / "workflows" / "book.yml"


def _readme_commands() -> set[str]:
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```(?:bash|sh)\n(.*?)```", text, re.S)
    return {line.split("#")[0].strip() for b in blocks for line in b.splitlines() if line.strip()}


def test_workflow_builds_the_book_and_publishes_the_html():
    wf = yaml.safe_load(WORKFLOW.read_text())
    assert set(wf[True if True in wf else "on"]) >= {"push", "workflow_dispatch"}
    assert wf["permissions"]["pages"] == "write" and wf["permissions"]["id-token"] == "write"
    build, deploy = wf["jobs"]["build"], wf["jobs"]["deploy"]
    uses = [s.get("uses", "") for s in build["steps"]]
    assert any(u.startswith("actions/checkout@") for u in uses)
    upload = [s for s in build["steps"] if s.get("uses", "").startswith("actions/upload-pages-artifact@")]
    assert upload and upload[0]["with"]["path"] == "_build/html"
    assert deploy["needs"] == "build"
    assert any(s.get("uses", "").startswith("actions/deploy-pages@") for s in deploy["steps"])
    assert "download.pytorch.org/whl/cpu" in build["env"]["PIP_EXTRA_INDEX_URL"]


def test_workflow_runs_only_the_readme_commands():
    wf = yaml.safe_load(WORKFLOW.read_text())
    runs = [line.strip() for job in wf["jobs"].values() for s in job["steps"] if "run" in s
            for line in s["run"].splitlines() if line.strip()]
    assert runs, "the workflow runs nothing"
    readme = _readme_commands()
    for cmd in runs:
        assert cmd in readme, f"{cmd!r} is not a command of README.md"
    assert "make book" in runs


def test_book_output_folder_is_the_published_one():
    # `make book` (profile `book`) writes _build/html, which the workflow uploads
    assert "_build/html" in (ROOT / "README.md").read_text()
    from mifd import cli
    assert '"--path-output"' in (ROOT / "mifd" / "pages" / "build.py").read_text()  # only other profiles move
    assert cli.build_book.__doc__ and "_build/html" in cli.build_book.__doc__
