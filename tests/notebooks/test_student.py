"""The student version of a notebook: solution bodies become stubs, everything else is kept."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from cnnlab.cli import main
from cnnlab.grading.lab import FUNCTIONS
from cnnlab.grading.student import (
    StudentNotebookError,
    make_student_notebook,
    stub_functions,
    write_student_notebook,
)

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "lab_cnn.ipynb"
STUB = "    # YOUR CODE HERE\n    raise NotImplementedError()"


def _run(source: str, name: str, *args):
    namespace: dict = {}
    exec(compile(source, "<cell>", "exec"), namespace)
    return namespace[name](*args)


def _cell(source: str, tags: list[str] | None = None, outputs: list | None = None) -> dict:
    return {
        "cell_type": "code",
        "metadata": {"tags": tags} if tags is not None else {},
        "source": source,
        "outputs": outputs or [],
        "execution_count": 3,
    }


def test_body_replaced_docstring_and_signature_kept():
    source = 'import numpy as np\n\n\ndef f(x, y=2):\n    """Add."""\n    z = x + y\n    return z\n\nK = 3\n'
    stubbed, names = stub_functions(source)
    assert names == ["f"]
    assert stubbed == f'import numpy as np\n\n\ndef f(x, y=2):\n    """Add."""\n{STUB}\n\nK = 3\n'
    with pytest.raises(NotImplementedError):
        _run(stubbed, "f", 1)


def test_no_docstring_multiline_header_decorator_and_nested_code():
    source = (
        "import functools\n"
        "@functools.lru_cache\n"
        "def g(\n"
        "    a,\n"
        "    b,\n"
        ") -> int:\n"
        "    def inner():\n"
        "        return a\n"
        "    return inner() + b\n"
        "    # a comment that gives the answer away\n"
        "\n"
        "def h():\n"
        "    return 1\n"
    )
    stubbed, names = stub_functions(source)
    assert names == ["g", "h"]
    assert "inner" not in stubbed and "answer" not in stubbed and "return" not in stubbed
    assert ") -> int:\n" + STUB + "\n\ndef h():\n" + STUB + "\n" in stubbed
    assert stubbed.startswith("import functools\n@functools.lru_cache\ndef g(\n    a,\n    b,\n")
    with pytest.raises(NotImplementedError):
        _run(stubbed, "g", 1, 2)


def test_class_methods_are_stubbed_and_top_level_code_is_not_touched():
    # Part 2's solution is a class: its methods are the answer, the class line and its docstring stay
    source = 'class A:\n    """Doc."""\n\n    def m(self):\n        return 1\n\nx = A().m()\n'
    stubbed = (
        'class A:\n    """Doc."""\n\n    def m(self):\n'
        "        # YOUR CODE HERE\n        raise NotImplementedError()\n\nx = A().m()\n"
    )
    assert stub_functions(source) == (stubbed, ["A.m"])


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("def f(x): return x\n", r"code cell 4: the body of f\(\) starts on its def line"),
        ("def f(\n    x): return x\n", r"code cell 4: the body of f\(\) starts on its def line"),
        ("def f(:\n", "code cell 4: syntax error on line 1"),
    ],
)
def test_sources_that_cannot_be_stubbed(source, message):
    with pytest.raises(StudentNotebookError, match=message):
        stub_functions(source, "code cell 4")


def test_notebook_outputs_cleared_tags_switched_input_not_modified():
    solution = "def f(x):\n    return 2 * x\n"
    notebook = {
        "cells": [
            {"cell_type": "markdown", "metadata": {}, "source": "# Title"},
            _cell("import numpy as np", outputs=[{"output_type": "stream", "name": "stdout", "text": "hi"}]),
            _cell(solution, tags=["solution", "keep"], outputs=[{"output_type": "stream", "text": "6"}]),
            _cell("print(f(3))"),
        ],
        "metadata": {"kernelspec": {"name": "python3"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    original = json.dumps(notebook)
    student, names = make_student_notebook(notebook)
    assert json.dumps(notebook) == original
    assert names == ["f"]
    cells = student["cells"]
    assert cells[0] == notebook["cells"][0]
    assert all(c["outputs"] == [] and c["execution_count"] is None for c in cells[1:])
    assert cells[1]["source"] == "import numpy as np" and cells[3]["source"] == "print(f(3))"
    assert cells[2]["source"] == "def f(x):\n" + STUB + "\n"
    assert cells[2]["metadata"]["tags"] == ["exercise", "keep"]
    assert student["metadata"] == notebook["metadata"]


def test_list_sources_are_read():
    notebook = {"cells": [_cell(["def f():\n", "    return 1\n"], tags=["solution"])]}
    student, _ = make_student_notebook(notebook)
    assert student["cells"][0]["source"] == "def f():\n" + STUB + "\n"


@pytest.mark.parametrize(
    ("notebook", "message"),
    [
        ({"cells": [_cell("def f():\n    return 1\n")]}, "no code cell is tagged 'solution'"),
        ({"cells": [_cell("x = 1\n", tags=["solution"])]}, "code cell 1 is tagged 'solution' but defines no"),
        ({"worksheets": []}, "not a Jupyter notebook in nbformat 4"),
    ],
)
def test_notebooks_that_cannot_be_turned_into_exercises(notebook, message):
    with pytest.raises(StudentNotebookError, match=message):
        make_student_notebook(notebook)


def test_write_refuses_to_overwrite_the_solutions(tmp_path):
    path = tmp_path / "lab.ipynb"
    path.write_text(json.dumps({"cells": [_cell("def f():\n    return 1\n", tags=["solution"])]}))
    with pytest.raises(StudentNotebookError, match="would overwrite the solutions"):
        write_student_notebook(path, tmp_path / "." / "lab.ipynb")
    (tmp_path / "bad.ipynb").write_text("{not json")
    with pytest.raises(StudentNotebookError, match=r"bad.ipynb: not a Jupyter notebook"):
        write_student_notebook(tmp_path / "bad.ipynb", tmp_path / "out.ipynb")


def test_the_lab_notebook_solutions_are_the_three_parts():
    notebook = json.loads(NOTEBOOK.read_text())
    defined = []
    for cell in notebook["cells"]:
        if "solution" in cell["metadata"].get("tags", []):
            tree = ast.parse("".join(cell["source"]))
            defined += [n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.ClassDef)]
    # the eight functions, exercise 8's two, Part 2's model
    assert defined == [*FUNCTIONS, "backward_propagation", "update_parameters", "CNNClassifier"]
    # stored without outputs, so the repository stays small and no answer is printed in the file
    assert all(not c.get("outputs") for c in notebook["cells"] if c["cell_type"] == "code")


def test_cli_writes_the_student_notebook(tmp_path, capsys):
    out = tmp_path / "sub" / "student.ipynb"
    assert main(["student", str(NOTEBOOK), str(out)]) == 0
    said = capsys.readouterr().out
    assert said.startswith(f"wrote {out}: 12 functions to write (zero_pad, ")
    assert said.rstrip().endswith("update_parameters, CNNClassifier.__init__, CNNClassifier.forward)")
    student = json.loads(out.read_text())
    stubs = ["".join(c["source"]) for c in student["cells"] if "exercise" in c["metadata"].get("tags", [])]
    assert len(stubs) == 10 and all("raise NotImplementedError()" in s for s in stubs)
    assert "nn.Conv2d" not in "".join(stubs)  # the model's layers are part of the answer
    assert "np.pad" not in out.read_text()  # zero_pad's answer is gone


def test_cli_one_line_error(tmp_path, capsys):
    assert main(["student", str(tmp_path / "missing.ipynb"), str(tmp_path / "out.ipynb")]) == 1
    err = capsys.readouterr().err
    assert err == f"cnnlab: error: {tmp_path / 'missing.ipynb'}: no such notebook\n"
