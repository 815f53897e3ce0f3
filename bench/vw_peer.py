"""The peer: the same page decided by Vowpal Wabbit's cb_explore_adf in-process.

VW is the engine behind Azure Personalizer. Each title is one multi-line ADF
example: a shared line with the viewer's and context's features (namespace U)
and one line per candidate with its artwork features (namespace A); `-q UA`
adds their quadratic interactions, as keyart's model multiplies viewer taste
by artwork tags. The examples are formatted before the clock starts; parsing
and predicting every title's candidates is what is timed.
"""

from __future__ import annotations

import numpy as np

try:
    import vowpalwabbit
except ImportError:  # only the benchmark needs it (requirements-bench.txt)
    vowpalwabbit = None


def _features(prefix: str, vector: np.ndarray) -> str:
    return " ".join(f"{prefix}{i}:{value:.5g}" for i, value in enumerate(vector) if value)


def page_examples(
    viewer: np.ndarray, context: np.ndarray, artwork: np.ndarray, counts: list[int]
) -> list[list[str]]:
    shared = f"shared |U {_features('v', viewer)} {_features('x', context)}"
    examples: list[list[str]] = []
    start = 0
    for count in counts:
        examples.append(
            [shared] + [f"|A {_features('a', row)}" for row in artwork[start : start + count]]
        )
        start += count
    return examples


class VowpalPeer:
    def __init__(self) -> None:
        if vowpalwabbit is None:
            raise RuntimeError("vowpalwabbit is not installed: make bench installs it")
        self._workspace = vowpalwabbit.Workspace("--cb_explore_adf -q UA --epsilon 0.0 --quiet")

    def decide(self, examples: list[list[str]]) -> list[int]:
        """One chosen candidate index per title (the highest-probability action)."""
        return [int(np.argmax(self._workspace.predict(example))) for example in examples]

    def close(self) -> None:
        self._workspace.finish()
