"""Step conditions (`when="params.replicas > 1"`): a tiny expression language, never `eval`."""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from typing import Any

_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
}


def condition_holds(expression: str, params: Mapping[str, Any]) -> bool:
    """Evaluate `expression` over `params` with comparisons, and/or/not and literals only."""
    return bool(_value(ast.parse(expression, mode="eval").body, params))


def _value(node: ast.expr, params: Mapping[str, Any]) -> Any:
    match node:
        case ast.Constant(value=value):
            return value
        case ast.Attribute(value=ast.Name(id="params"), attr=name):
            return params.get(name)
        case ast.List(elts=items) | ast.Tuple(elts=items):
            return [_value(item, params) for item in items]
        case ast.UnaryOp(op=ast.Not(), operand=operand):
            return not _value(operand, params)
        case ast.BoolOp(op=ast.And(), values=values):
            return all(_value(value, params) for value in values)
        case ast.BoolOp(op=ast.Or(), values=values):
            return any(_value(value, params) for value in values)
        case ast.Compare(left=left, ops=ops, comparators=rights):
            current = _value(left, params)
            for op, right in zip(ops, rights, strict=True):
                following = _value(right, params)
                if not _COMPARE[type(op)](current, following):
                    return False
                current = following
            return True
    raise ValueError(f"not allowed in a step condition: {ast.unparse(node)}")
