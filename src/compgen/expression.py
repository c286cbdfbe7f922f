"""Parse composition expressions such as ``"(bars_h & bars_v) | ring ** 0.5"`` safely.

Only names, numbers, ``&``, ``|``, ``~``, ``**`` and parentheses are allowed; nothing is
evaluated as Python.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping

from compgen.algebra.component import Component


def parse(expression: str, components: Mapping[str, Component]) -> Component:
    """Build the composition ``expression`` names, from ``components`` by name."""
    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError as err:
        raise ValueError(f"cannot parse expression {expression!r}: {err.msg}") from err
    return _build(tree.body, components, expression)


def _build(node: ast.AST, components: Mapping[str, Component], text: str) -> Component:
    if isinstance(node, ast.Name):
        if node.id not in components:
            raise ValueError(f"unknown component {node.id!r} in {text!r}; known: {sorted(components)}")
        return components[node.id]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Invert):
        return ~_build(node.operand, components, text)
    if isinstance(node, ast.BinOp):
        if isinstance(node.op, ast.Pow):
            exponent = node.right
            if isinstance(exponent, ast.UnaryOp) and isinstance(exponent.op, ast.USub):
                exponent, sign = exponent.operand, -1.0
            else:
                sign = 1.0
            if not (isinstance(exponent, ast.Constant) and isinstance(exponent.value, int | float)):
                raise ValueError(f"the exponent after ** must be a number in {text!r}")
            return _build(node.left, components, text) ** (sign * exponent.value)
        left, right = _build(node.left, components, text), _build(node.right, components, text)
        if isinstance(node.op, ast.BitAnd):
            return left & right
        if isinstance(node.op, ast.BitOr):
            return left | right
    raise ValueError(f"unsupported syntax {ast.unparse(node)!r} in {text!r}: use names, "
                     "&, |, ~, ** number and parentheses")
