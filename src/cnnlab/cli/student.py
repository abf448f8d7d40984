"""``cnnlab student``: write the student version of a lab notebook (solution bodies become stubs)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cnnlab.cli.app import app


@app.command(epilog="Example:  cnnlab student notebooks/lab_cnn.ipynb build/lab_cnn_student.ipynb")
def student(
    notebook: Annotated[Path, typer.Argument(help="The notebook with solutions (cells tagged 'solution').")],
    out: Annotated[Path, typer.Argument(help="Where to write the student version (replaced if present).")],
) -> None:
    """Write the student version of NOTEBOOK to OUT.

    In code cells tagged 'solution', function bodies become 'raise NotImplementedError()' stubs.

    Def lines and docstrings are kept and all outputs are cleared; 'cnnlab grade OUT' marks the result.
    """
    from cnnlab.grading.student import write_student_notebook

    names = write_student_notebook(notebook, out)
    print(f"wrote {out}: {len(names)} functions to write ({', '.join(names)})")
