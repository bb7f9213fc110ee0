"""A small, safe rule language over table columns, evaluated on whole columns at once.

A rule is one Python-looking expression, parsed with :mod:`ast` and checked
against a short list of allowed node types before anything runs.  Allowed:

- column names (``churn_probability``), ``true`` / ``false`` (also ``True`` / ``False``);
- numbers and quoted strings;
- arithmetic ``+ - * / %`` and unary ``-``;
- comparisons ``== != < <= > >=`` (chains such as ``0.6 <= value_percentile < 0.8`` too);
- ``in`` / ``not in`` a list, tuple or set of literals: ``lifecycle_stage in ['new', 'active']``;
- ``and``, ``or``, ``not`` and parentheses.

Nothing else parses: no calls, attributes, subscripts, comprehensions or
lambdas, so a config can never run code.  Evaluation is vectorised with
numpy.  A missing value (NaN, None) never satisfies a comparison or ``in``;
``not`` inverts the result as computed (so ``not x > 5`` holds where x is missing).
"""

from __future__ import annotations

import ast
import operator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tierlib.errors import InputError

_BOOLEAN_NAMES = {"true": True, "false": False, "True": True, "False": False}

_ARITHMETIC = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Mod: operator.mod,
}
_ORDERING = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}
_MEMBERSHIP = (ast.In, ast.NotIn)

MAX_RULE_LENGTH = 2_000


class RuleSyntaxError(ValueError):
    """A rule that does not parse, or uses something the language does not allow."""


@dataclass(frozen=True)
class Expression:
    """A checked rule: its text, its syntax tree, and the columns it reads."""

    text: str
    tree: ast.Expression = field(repr=False, compare=False)
    columns: tuple[str, ...]

    def evaluate(self, frame: pd.DataFrame) -> np.ndarray:
        """Boolean array, one value per row of ``frame``.

        Raises InputError naming the columns the frame lacks.
        """
        missing = [column for column in self.columns if column not in frame.columns]
        if missing:
            raise InputError(
                f"rule {self.text!r} reads column(s) {missing}, which the table does not have; "
                f"available: {sorted(map(str, frame.columns))}"
            )
        result = _Evaluator(frame, len(frame)).visit(self.tree.body)
        return _as_mask(result, len(frame), self.text)


def parse_rule(text: str) -> Expression:
    """Parse and check ``text``; RuleSyntaxError says what is not allowed and where."""
    if not isinstance(text, str) or not text.strip():
        raise RuleSyntaxError('a rule must be a non-empty expression, e.g. "churn_probability >= 0.5"')
    if len(text) > MAX_RULE_LENGTH:
        raise RuleSyntaxError(f"a rule may be at most {MAX_RULE_LENGTH} characters long")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as error:
        raise RuleSyntaxError(f"{text!r} does not parse: {error.msg} at column {error.offset}") from error
    columns: list[str] = []
    _check(tree.body, text, columns)
    return Expression(text=text.strip(), tree=tree, columns=tuple(dict.fromkeys(columns)))


def _check(node: ast.AST, text: str, columns: list[str]) -> None:
    """Walk the tree, allowing only the language's node types; collect column names."""
    where = f"{text!r}: {ast.get_source_segment(text.strip(), node) or type(node).__name__!s}"
    if isinstance(node, ast.BoolOp):
        for value in node.values:
            _check(value, text, columns)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not | ast.USub | ast.UAdd):
        _check(node.operand, text, columns)
    elif isinstance(node, ast.BinOp) and type(node.op) in _ARITHMETIC:
        _check(node.left, text, columns)
        _check(node.right, text, columns)
    elif isinstance(node, ast.Compare):
        _check(node.left, text, columns)
        for op, right in zip(node.ops, node.comparators, strict=True):
            if isinstance(op, _MEMBERSHIP):
                _check_literal_list(right, text)
            elif type(op) in _ORDERING:
                _check(right, text, columns)
            else:
                raise RuleSyntaxError(f"{where}: use == != < <= > >= in or 'not in' to compare")
    elif isinstance(node, ast.Constant):
        if node.value is None or not isinstance(node.value, bool | int | float | str):
            raise RuleSyntaxError(f"{where}: only numbers, quoted text, true and false are literals")
    elif isinstance(node, ast.Name):
        if node.id not in _BOOLEAN_NAMES:
            columns.append(node.id)
    elif isinstance(node, ast.List | ast.Tuple | ast.Set):
        raise RuleSyntaxError(f"{where}: a list may only follow 'in' or 'not in'")
    else:
        raise RuleSyntaxError(
            f"{where}: {type(node).__name__} is not allowed; rules use column names, numbers, "
            "quoted text, arithmetic, comparisons, 'in' lists, and/or/not"
        )


def _check_literal_list(node: ast.AST, text: str) -> None:
    if not isinstance(node, ast.List | ast.Tuple | ast.Set):
        raise RuleSyntaxError(
            f"{text!r}: 'in' needs a list of literals, e.g. lifecycle_stage in ['new', 'active']"
        )
    for item in node.elts:
        if not (isinstance(item, ast.Constant) and isinstance(item.value, bool | int | float | str)):
            raise RuleSyntaxError(f"{text!r}: the list after 'in' may hold only numbers and quoted text")


class _Evaluator:
    """Evaluates a checked tree to numpy arrays (or scalars for constant parts)."""

    def __init__(self, frame: pd.DataFrame, rows: int):
        self.frame = frame
        self.rows = rows

    def visit(self, node: ast.AST):
        if isinstance(node, ast.BoolOp):
            masks = [_as_mask(self.visit(value), self.rows, "") for value in node.values]
            combine = np.logical_and if isinstance(node.op, ast.And) else np.logical_or
            result = masks[0]
            for mask in masks[1:]:
                result = combine(result, mask)
            return result
        if isinstance(node, ast.UnaryOp):
            operand = self.visit(node.operand)
            if isinstance(node.op, ast.Not):
                return np.logical_not(_as_mask(operand, self.rows, ""))
            return -operand if isinstance(node.op, ast.USub) else operand
        if isinstance(node, ast.BinOp):
            with np.errstate(divide="ignore", invalid="ignore"):
                return _ARITHMETIC[type(node.op)](
                    _numeric(self.visit(node.left)), _numeric(self.visit(node.right))
                )
        if isinstance(node, ast.Compare):
            return self._compare(node)
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            if node.id in _BOOLEAN_NAMES:
                return _BOOLEAN_NAMES[node.id]
            return _column_values(self.frame[node.id])
        raise AssertionError(f"unchecked node {type(node).__name__}")  # _check rejects these

    def _compare(self, node: ast.Compare) -> np.ndarray:
        result = np.ones(self.rows, dtype=bool)
        left = self.visit(node.left)
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            if isinstance(op, _MEMBERSHIP):
                allowed = [item.value for item in right_node.elts]
                values = _broadcast(left, self.rows)
                present = ~pd.isna(values)
                inside = np.asarray(pd.Series(values, dtype=object).isin(allowed), dtype=bool)
                step = inside if isinstance(op, ast.In) else present & ~inside
                result &= step
                continue
            right = self.visit(right_node)
            result &= _ordered(_ORDERING[type(op)], left, right, self.rows)
            left = right
        return result


def _column_values(series: pd.Series) -> np.ndarray:
    """Numbers as float64 (missing -> NaN), booleans as bool, text as object (missing -> None)."""
    if pd.api.types.is_bool_dtype(series.dtype) and not series.isna().any():
        return series.to_numpy(dtype=bool)
    if pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype):
        return series.astype("float64").to_numpy(dtype=np.float64, na_value=np.nan)
    return series.astype(object).where(series.notna(), None).to_numpy(dtype=object)


def _numeric(value):
    if isinstance(value, str) or (isinstance(value, np.ndarray) and value.dtype == object):
        raise InputError("arithmetic in a rule needs numeric columns; text columns can only be compared")
    return value


def _ordered(compare, left, right, rows: int) -> np.ndarray:
    left_values, right_values = _broadcast(left, rows), _broadcast(right, rows)
    valid = ~(pd.isna(left_values) | pd.isna(right_values))
    out = np.zeros(rows, dtype=bool)
    if valid.any():
        try:
            out[valid] = compare(left_values[valid], right_values[valid])
        except TypeError as error:
            raise InputError(
                f"a rule compares text with a number ({error}); quote text, e.g. == 'active'"
            ) from error
    return out


def _broadcast(value, rows: int) -> np.ndarray:
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, str):
        return np.full(rows, value, dtype=object)
    return np.full(rows, value)


def _as_mask(value, rows: int, text: str) -> np.ndarray:
    if isinstance(value, bool | np.bool_):
        return np.full(rows, bool(value))
    array = np.asarray(value)
    if array.dtype == bool:
        return array
    if array.dtype.kind in "fiu":
        # A bare numeric column used as a condition: true where non-zero, false where missing.
        return np.nan_to_num(array.astype(np.float64), nan=0.0) != 0
    raise InputError(f"rule {text!r} does not give true/false per row; compare the value, e.g. x > 0")
