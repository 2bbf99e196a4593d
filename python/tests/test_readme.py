"""The README's Python examples run as written (from the repository root) and hold."""

import os
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def blocks():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Python\n"):text.index("## Performance\n")]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def test_the_readme_examples_run(capsys):
    found = blocks()
    assert len(found) == 2
    here = os.getcwd()
    os.chdir(ROOT)
    try:
        pytest_example = {}
        exec(compile(found[0], "README pytest example", "exec"), pytest_example)
        tests = [f for name, f in pytest_example.items() if name.startswith("test_")]
        assert len(tests) == 1
        tests[0]()
        exec(compile(found[1], "README batch example", "exec"), {})
    finally:
        os.chdir(here)
    out = capsys.readouterr().out
    # The comment under the print says what it prints.
    said = found[1].strip().splitlines()[-1]
    assert said.startswith("# ")
    assert out.strip() == said[2:].split(": ")[0]
