"""A thin, quiet, deterministic wrapper over HiGHS for the engine and the attacker."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from ltcbridge.extras import HUB, PRACTICE, optional_imports

with optional_imports(PRACTICE, HUB):
    import highspy

INF = highspy.kHighsInf


@dataclass
class ModelBuilder:
    """Collects columns and rows, then hands one model to HiGHS in a single call."""

    cost: list[float] = field(default_factory=list)
    col_lower: list[float] = field(default_factory=list)
    col_upper: list[float] = field(default_factory=list)
    row_lower: list[float] = field(default_factory=list)
    row_upper: list[float] = field(default_factory=list)
    starts: list[int] = field(default_factory=lambda: [0])
    index: list[int] = field(default_factory=list)
    value: list[float] = field(default_factory=list)

    def column(self, lower: float, upper: float, cost: float = 0.0) -> int:
        self.cost.append(cost)
        self.col_lower.append(lower)
        self.col_upper.append(upper)
        return len(self.cost) - 1

    def row(self, cols: list[int], coefs: list[float], lower: float, upper: float) -> None:
        self.index.extend(cols)
        self.value.extend(coefs)
        self.starts.append(len(self.index))
        self.row_lower.append(lower)
        self.row_upper.append(upper)

    def solve_with(self, integer: bool = False) -> highspy.Highs:
        """A ready HiGHS instance holding this model (not yet run)."""
        lp = highspy.HighsLp()
        lp.num_col_ = len(self.cost)
        lp.num_row_ = len(self.row_lower)
        lp.col_cost_ = np.asarray(self.cost, dtype=np.float64)
        lp.col_lower_ = np.asarray(self.col_lower, dtype=np.float64)
        lp.col_upper_ = np.asarray(self.col_upper, dtype=np.float64)
        lp.row_lower_ = np.asarray(self.row_lower, dtype=np.float64)
        lp.row_upper_ = np.asarray(self.row_upper, dtype=np.float64)
        lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
        lp.a_matrix_.start_ = np.asarray(self.starts, dtype=np.int32)
        lp.a_matrix_.index_ = np.asarray(self.index, dtype=np.int32)
        lp.a_matrix_.value_ = np.asarray(self.value, dtype=np.float64)
        if integer:
            lp.integrality_ = [highspy.HighsVarType.kInteger] * lp.num_col_
        highs = quiet_highs()
        highs.passModel(lp)
        return highs


def quiet_highs() -> highspy.Highs:
    """HiGHS with no console output, one thread and exact MIP gaps: same input, same answer."""
    with _banner_silenced():
        highs = highspy.Highs()
    highs.setOptionValue("output_flag", False)
    highs.setOptionValue("threads", 1)
    highs.setOptionValue("mip_rel_gap", 0.0)
    highs.setOptionValue("mip_abs_gap", 0.0)
    return highs


def is_optimal(highs: highspy.Highs) -> bool:
    return highs.getModelStatus() == highspy.HighsModelStatus.kOptimal


@contextmanager
def _banner_silenced() -> Iterator[None]:
    """HiGHS prints its banner from C on the process's standard output when an instance is made,
    before any option can stop it; a command's output (and `--json`) must hold only its own."""
    sys.stdout.flush()
    saved = os.dup(1)
    sink = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(sink, 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(sink)
