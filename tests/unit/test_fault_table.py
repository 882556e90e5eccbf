"""README's fault table is the one counted from the tests' fault markers (tests/fault_table.py)."""

import subprocess
import sys

from workflow_runner import REPO

SCRIPT = str(REPO / "tests" / "fault_table.py")


def fault_table(*args, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True, timeout=300, cwd=cwd)


def test_readme_fault_table_is_the_one_counted_from_the_tests():
    result = fault_table("--check")
    assert result.returncode == 0, result.stderr[-3000:]  # says: regenerate it with `make fault-table`


MARKED = """
import pytest

SIMULATED = pytest.mark.fault(kind="full disk", real=False)

@pytest.mark.fault(kind="kill", real=True)
def test_kill():
    pass

@pytest.mark.parametrize("x", [pytest.param(1, marks=SIMULATED), pytest.param(2, marks=SIMULATED), 3])
def test_disk(x):
    pass

@pytest.mark.parametrize("x", [1, 2])
@pytest.mark.fault(kind="kill", real=False)
def test_more_kills(x):
    pass

def test_no_fault():
    pass
"""

COUNTED = """| kind | cases tried | real | simulated |
|---|---|---|---|
| full disk | 2 | 0 | 2 |
| kill | 3 | 1 | 2 |
| **all** | **5** | **1** | **4** |
"""


def test_the_table_counts_marked_cases_by_kind_and_rewrites_the_readme(tmp_path):
    (tmp_path / "test_marked.py").write_text(MARKED)
    readme = tmp_path / "README.md"
    start, end = "# Title\n\n<!-- fault-table:start -->\n", "<!-- fault-table:end -->\n\nmore text\n"
    readme.write_text(f"{start}| stale |\n{end}")
    args = ("--readme", str(readme), str(tmp_path))
    printed = fault_table(str(tmp_path), cwd=tmp_path)
    assert printed.returncode == 0 and printed.stdout == COUNTED, printed.stdout + printed.stderr
    stale = fault_table("--check", *args, cwd=tmp_path)
    assert stale.returncode == 1 and "regenerate it with `make fault-table`" in stale.stderr
    assert fault_table("--write", *args, cwd=tmp_path).returncode == 0
    assert readme.read_text() == f"{start}{COUNTED}{end}"
    assert fault_table("--check", *args, cwd=tmp_path).returncode == 0


def test_a_fault_marker_without_kind_or_real_is_an_error(tmp_path):
    (tmp_path / "test_bad.py").write_text('import pytest\n\n@pytest.mark.fault(kind="kill")\ndef test_x():\n    pass\n')
    result = fault_table(str(tmp_path), cwd=tmp_path)
    assert result.returncode != 0 and "test_bad.py::test_x: write @pytest.mark.fault(kind=" in result.stderr
