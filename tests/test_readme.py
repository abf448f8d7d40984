"""The README's Python example runs as written and gives the lab's printed mean."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_readme_python_example_runs_and_matches_the_lab():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert blocks, "README.md has no ```python block"
    namespace: dict = {}
    exec(compile(blocks[0], str(README), "exec"), namespace)
    # The lab's printed conv_forward mean (seed 2023, pad 1, stride 1).
    assert abs(namespace["Z"].mean() - 0.33376645114158293) < 1e-12
    assert np.isfinite(namespace["loss"])
    assert sum(p.size for p in namespace["model"].parameters().values()) == 548_258
