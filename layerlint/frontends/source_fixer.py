"""Apply ``Fix`` descriptions to Python source with LibCST (comments and layout kept).

Only exact, literal shapes are edited: a constructor call found at the fix's location;
for removing or moving a layer, an element of a literal ``nn.Sequential(...)`` or
``keras.Sequential([...])``; renaming a ``module.Name(...)`` call; unwrapping a
one-argument call. A fix with a companion edit applies both or neither. Anything
else is refused with a reason. The result must
parse again, or nothing is changed.
"""

from __future__ import annotations

import ast
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import libcst as cst

from layerlint.fix import Edit, Fix
from layerlint.frontends import InputError, Project
from layerlint.frontends.python.signatures import argument_slot
from layerlint.frontends.python.source import PythonModule, _statements, parse_python
from layerlint.ir import Location
from layerlint.rule import Finding

__all__ = ["FilePlan", "plan"]

_SEQUENTIALS = frozenset({"torch.nn.Sequential", "keras.Sequential", "keras.models.Sequential"})

@dataclass
class FilePlan:
    """The fixed text of one file, which findings it fixes and which it cannot."""

    path: Path
    original: str
    fixed: str
    applied: list[Finding] = field(default_factory=list)
    refused: list[tuple[Finding, str]] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.fixed != self.original


class _Refused(Exception):
    pass


@dataclass
class _Container:
    """A literal Sequential: the node holding the elements (a Call or a List)."""

    node: cst.Call | cst.List
    elements: list[cst.CSTNode]  # the Arg or Element nodes, in order
    values: list[cst.CSTNode]  # their values


class _CallCollector(cst.CSTVisitor):
    """The calls under a node, in source order."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[cst.Call] = []

    def visit_Call(self, node: cst.Call) -> None:
        self.calls.append(node)


class _Index:
    """Constructor calls by position, built per top-level statement when first asked.

    Positions come from the module's own locator (statement lines from ``ast``, calls
    found by their text in source order), so planning a fix costs one walk over the
    statement that holds it, not LibCST's PositionProvider over the whole file.
    """

    def __init__(self, module: PythonModule) -> None:
        self.module = module
        self.calls: dict[tuple[int, int], list[cst.Call]] = {}
        self.container_of: dict[cst.CSTNode, tuple[_Container, int]] = {}
        self._indexed: set[int] = set()

    def _index_line(self, line: int) -> None:
        for stmt in self.module.module.body:
            span = self.module.statement_span(stmt)
            if span is None or not span[0] <= line <= span[2] or id(stmt) in self._indexed:
                continue
            self._indexed.add(id(stmt))
            collector = _CallCollector()
            stmt.visit(collector)
            for call in collector.calls:  # in source order: identical texts are told apart by it
                where = self.module.location(call, stmt)
                self.calls.setdefault((where.line, where.column), []).append(call)
                self._container(call)

    def _container(self, call: cst.Call) -> None:
        if self.module.qualified(call.func) not in _SEQUENTIALS:
            return
        args = list(call.args)
        if args and all(a.keyword is None and not a.star for a in args) and not (
                len(args) == 1 and isinstance(args[0].value, cst.List)):
            container = _Container(call, args, [a.value for a in args])  # nn.Sequential(a, b)
        elif (args and isinstance(args[0].value, cst.List)
              and (args[0].keyword is None or args[0].keyword.value == "layers")):
            lst = args[0].value  # keras.Sequential([a, b])
            if any(isinstance(e, cst.StarredElement) for e in lst.elements):
                return
            container = _Container(lst, list(lst.elements), [e.value for e in lst.elements])
        else:
            return
        for index, value in enumerate(container.values):
            self.container_of[value] = (container, index)

    def call_at(self, location: Location) -> cst.Call:
        if location.node is not None or location.cell is not None:
            raise _Refused("no editable source here")
        self._index_line(location.line)
        candidates = self.calls.get((location.line, location.column), [])
        if location.end_line is not None:
            exact = [c for c in candidates if self._ends_at(c, location)]
            candidates = exact or candidates
        if len(candidates) != 1:
            raise _Refused(f"no single constructor call at line {location.line}")
        return candidates[0]

    def _ends_at(self, call: cst.Call, location: Location) -> bool:
        start = self.module.location(call)
        code = self.module.code(call)
        last = code.rsplit("\n", 1)[-1]
        end_line = start.line + code.count("\n")
        end_column = len(last) + (start.column if "\n" not in code else 1)
        return (end_line, end_column) == (location.end_line, location.end_column)


class _Transformer(cst.CSTTransformer):
    def __init__(self, arguments: dict[cst.Call, tuple[str, cst.BaseExpression]],
                 orders: dict[cst.CSTNode, list[int | None]],
                 renames: dict[cst.Call, str] | None = None,
                 unwraps: set[cst.Call] | None = None,
                 statements: dict[cst.CSTNode, cst.BaseSmallStatement] | None = None) -> None:
        self.statements = statements or {}  # small statement -> its replacement
        self.arguments = arguments
        self.orders = orders  # container node -> new order of element indexes (None: drop)
        self.renames = renames or {}  # call -> the new last name of its function
        self.unwraps = unwraps or set()  # calls replaced by their only argument

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        if original in self.unwraps:
            return updated.args[0].value
        if original in self.renames:
            func = updated.func
            assert isinstance(func, cst.Attribute)
            updated = updated.with_changes(
                func=func.with_changes(attr=cst.Name(self.renames[original])))
        if original in self.arguments:
            updated = _set_argument(updated, *self.arguments[original])
        if original in self.orders:
            updated = updated.with_changes(args=_reorder(list(updated.args),
                                                         self.orders[original]))
        return updated

    def leave_Assign(self, original: cst.Assign, updated: cst.Assign
                     ) -> cst.BaseSmallStatement:
        return self.statements.get(original, updated)

    def leave_List(self, original: cst.List, updated: cst.List) -> cst.List:
        if original in self.orders:
            updated = updated.with_changes(elements=_reorder(list(updated.elements),
                                                             self.orders[original]))
        return updated


def _reorder(elements: list, order: list[int | None]) -> list:
    """Elements in a new order. The layout stays with the position (each slot keeps its
    comma, line break and indentation; the last slot its trailing-comma style) and the
    comment after an element stays with the element."""
    positions = [i for i in order if i is not None]
    last = len(elements) - 1
    result = []
    for slot, position in enumerate(positions):
        layout = elements[slot if slot < len(positions) - 1 else last]
        element = elements[position]
        moved = element.with_changes(comma=layout.comma)
        if isinstance(element, cst.Arg):
            moved = moved.with_changes(whitespace_after_arg=layout.whitespace_after_arg)
        result.append(_with_comment(moved, _comment(element)))
    return result


def _trailer(element: cst.Arg | cst.BaseElement) -> cst.BaseParenthesizableWhitespace | None:
    """The whitespace after an element that holds its trailing comment."""
    if isinstance(element.comma, cst.Comma):
        return element.comma.whitespace_after
    if isinstance(element, cst.Arg):
        return element.whitespace_after_arg
    return None  # the last element of a list without a trailing comma: see _element


def _comment(element: cst.Arg | cst.BaseElement) -> cst.TrailingWhitespace | None:
    trailer = _trailer(element)
    if isinstance(trailer, cst.ParenthesizedWhitespace) and trailer.first_line.comment:
        return trailer.first_line
    return None


def _with_comment(element: cst.Arg | cst.BaseElement,
                  comment: cst.TrailingWhitespace | None) -> cst.Arg | cst.BaseElement:
    trailer = _trailer(element)
    if not isinstance(trailer, cst.ParenthesizedWhitespace):
        if comment is not None:  # the slot ends on the same line: no room for a comment
            raise _Refused("the layer's comment would be lost")
        return element
    trailer = trailer.with_changes(first_line=comment or cst.TrailingWhitespace())
    if isinstance(element.comma, cst.Comma):
        return element.with_changes(comma=element.comma.with_changes(whitespace_after=trailer))
    return element.with_changes(whitespace_after_arg=trailer)


def _set_argument(call: cst.Call, name: str, value: cst.BaseExpression) -> cst.Call:
    args = list(call.args)
    for index, arg in enumerate(args):
        if arg.keyword is not None and arg.keyword.value == name:
            args[index] = arg.with_changes(value=value)
            return call.with_changes(args=args)
    new = cst.Arg(value=value, keyword=cst.Name(name),
                  equal=cst.AssignEqual(cst.SimpleWhitespace(""), cst.SimpleWhitespace("")))
    if args:
        last = args[-1]
        if isinstance(last.comma, cst.Comma):  # trailing comma: keep the layout
            separator = args[-2].comma if len(args) > 1 else last.comma
            args[-1] = last.with_changes(comma=separator)
            new = new.with_changes(comma=last.comma)
        else:
            space = cst.SimpleWhitespace(" ")
            args[-1] = last.with_changes(comma=cst.Comma(whitespace_after=space))
    return call.with_changes(args=[*args, new])


def _literal(value: object) -> cst.BaseExpression:
    if isinstance(value, bool) or value is None:
        return cst.Name(repr(value))
    if isinstance(value, (int, float, str)):
        return cst.parse_expression(repr(value))
    raise _Refused(f"cannot write the value {value!r}")


def _check_argument(index: _Index, call: cst.Call, fix: Fix) -> None:
    assert fix.argument is not None
    if any(a.keyword is not None and a.keyword.value == fix.argument for a in call.args):
        return
    if any(a.star for a in call.args):
        raise _Refused("the call passes *args or **kwargs")
    positional = sum(1 for a in call.args if a.keyword is None)
    slot = argument_slot(fix.op, fix.argument)
    if slot is None and positional:
        raise _Refused(f"`{fix.argument}` may be passed by position to {fix.op}")
    if slot is not None and positional > slot:
        raise _Refused(f"`{fix.argument}` is passed by position")


def plan(path: Path, data: bytes, findings: Sequence[Finding], display: str,
         each_alone: bool = False, parsed: PythonModule | None = None) -> FilePlan:
    """Plan the fixes of ``findings`` (all in this file) on ``data``; nothing is written.

    With ``each_alone``, each fix is only checked as if it were the only one (which
    findings a fix run can fix, over its passes); no fixed text is produced.
    ``parsed``: the frontend's parse of ``data``, reused (its tree is immutable; the
    positions found are kept apart) instead of parsing again.
    """
    if parsed is not None:
        module = PythonModule(path=path, display=display, module=parsed.module,
                              text=parsed.text, aliases=parsed.aliases,
                              definitions=parsed.definitions, tree=parsed.tree)
    else:
        try:
            module = parse_python(path, Project([path], display=lambda _: display), data)
        except InputError as error:
            raise ValueError(f"cannot parse {display}: {error.message}") from None
    # a dry run needs no text: skip regenerating the whole file's code (and the
    # frontend's parse keeps it for the next fix planned on the same file)
    text = module.text if each_alone else parsed.code(parsed.module) if parsed is not None \
        else module.module.code
    result = FilePlan(path, text, text)
    index = _Index(module)
    arguments: dict[cst.Call, tuple[str, cst.BaseExpression]] = {}
    orders: dict[cst.CSTNode, list[int | None]] = {}
    renames: dict[cst.Call, str] = {}
    unwraps: set[cst.Call] = set()
    statements: dict[cst.CSTNode, cst.BaseSmallStatement] = {}  # training-code edits
    for finding in findings:
        fix = finding.fix
        if fix is None:
            continue
        if each_alone:
            arguments.clear()
            orders.clear()
            renames.clear()
            unwraps.clear()
            statements.clear()
        try:
            if fix.companion is not None:
                # both edits or neither: plan them on copies, keep them if both apply
                trial = (dict(arguments), dict(orders), dict(renames), set(unwraps))
                for part in (fix, fix.companion):
                    _plan_edit(index, part, *trial, statements)
                arguments, orders, renames, unwraps = trial
                result.applied.append(finding)
                continue
            _plan_edit(index, fix, arguments, orders, renames, unwraps, statements)
        except _Refused as reason:
            result.refused.append((finding, str(reason)))
            continue
        result.applied.append(finding)
    if not result.applied or each_alone:
        return result
    fixed = module.module.visit(
        _Transformer(arguments, orders, renames, unwraps, statements)).code
    # LibCST drops a CR-only file's last line breaks: keep the file's own, exactly
    ending = module.text[len(module.text.rstrip("\r\n")):]
    fixed = fixed.rstrip("\r\n") + ending
    try:
        ast.parse(fixed)
    except SyntaxError as error:  # never write code that does not parse
        result.refused.extend((f, f"the fixed code would not parse: {error}")
                              for f in result.applied)
        result.applied = []
        return result
    result.fixed = fixed
    return result


def _plan_edit(index: _Index, fix: Fix,
               arguments: dict[cst.Call, tuple[str, cst.BaseExpression]],
               orders: dict[cst.CSTNode, list[int | None]], renames: dict[cst.Call, str],
               unwraps: set[cst.Call],
               statements: dict[cst.CSTNode, cst.BaseSmallStatement]) -> None:
    """Record one edit in the plan, or raise _Refused."""
    if fix.edit in (Edit.REGISTER, Edit.CALL_SETTER, Edit.RENAME_ATTRIBUTE):
        _plan_assignment(index, fix, statements)
        return
    call = index.call_at(fix.target)
    if fix.op and index.module.qualified(call.func) != fix.op:
        # e.g. an activation lowered from `Dense(activation=...)` shares the
        # Dense call's location: that call is not the layer to edit.
        raise _Refused(f"the call at line {fix.target.line} does not construct {fix.op}")
    if fix.edit is Edit.RENAME:
        if call in renames or not isinstance(call.func, cst.Attribute):
            raise _Refused("the call is not `module.Name(...)`")
        renames[call] = str(fix.value)
        return
    if fix.edit is Edit.UNWRAP:
        if call in unwraps or len(call.args) != 1 or call.args[0].keyword is not None \
                or call.args[0].star:
            raise _Refused("the call does not take exactly one positional argument")
        unwraps.add(call)
        return
    if fix.edit in (Edit.SET_ARGUMENT, Edit.SET_EXPRESSION):
        if call in arguments:
            raise _Refused("another fix edits this call")
        _check_argument(index, call, fix)
        arguments[call] = (fix.argument or "", _literal(fix.value) if fix.edit is
                           Edit.SET_ARGUMENT else cst.parse_expression(str(fix.value)))
    else:
        container, position = _element(index, call)
        if container.node in orders:
            raise _Refused("another fix edits this Sequential")
        order: list[int | None] = list(range(len(container.values)))
        if fix.edit is Edit.REMOVE:
            if len(container.values) < 2:
                raise _Refused("it is the only layer of the Sequential")
            order[position] = None
        else:
            if fix.anchor is None:
                raise _Refused("no layer to move after")
            anchor, after = _element(index, index.call_at(fix.anchor))
            if anchor is not container:
                raise _Refused("the two layers are not in one literal Sequential")
            order.remove(position)
            order.insert(order.index(after) + 1, position)
        _check_layout(container, order)
        orders[container.node] = order


def _check_layout(container: _Container, order: list[int | None]) -> None:
    """Refuse a new order that would lose or misplace a comment (see ``_reorder``)."""
    node, last = container.node, len(container.values) - 1
    if isinstance(node, cst.List) and not isinstance(container.elements[last].comma, cst.Comma) \
            and [i for i in order if i is not None][-1] != last:
        closing = node.rbracket.whitespace_before
        if isinstance(closing, cst.ParenthesizedWhitespace) and closing.first_line.comment:
            raise _Refused("the last layer's comment would stay at the end")
    _reorder(container.elements, order)


def _element(index: _Index, call: cst.Call) -> tuple[_Container, int]:
    found = index.container_of.get(call)
    if found is None:
        raise _Refused("the layer is not an element of a literal Sequential")
    return found


# ----------------------------------------------------------------------- training code
def _assignment_at(index: _Index, location: Location) -> cst.Assign:
    """The one-target assignment statement that starts at ``location``."""
    if location.node is not None or location.cell is not None:
        raise _Refused("no editable source here")
    module = index.module
    for stmt in _statements(list(module.module.body)):
        if isinstance(stmt, cst.Assign) and \
                module.statement_span(stmt) is not None and \
                module.statement_span(stmt)[:2] == (location.line, location.column):
            if len(stmt.targets) != 1:
                raise _Refused("the assignment has several targets")
            return stmt
    raise _Refused(f"no assignment at line {location.line}")


def _spelled(module: PythonModule, qualified: str) -> str:
    """How the file spells a qualified name through its imports (``torch.nn.ModuleList``
    as ``nn.ModuleList`` after ``import torch.nn as nn``)."""
    parts = qualified.split(".")
    for cut in range(len(parts), 0, -1):
        prefix = ".".join(parts[:cut])
        for local, target in sorted(module.aliases.items()):
            if target == prefix:
                return ".".join([local, *parts[cut:]])
    raise _Refused(f"the file does not import {qualified.rsplit('.', 1)[0]}")


def _plan_assignment(index: _Index, fix: Fix,
                     statements: dict[cst.CSTNode, cst.BaseSmallStatement]) -> None:
    stmt = _assignment_at(index, fix.target)
    if stmt in statements:
        raise _Refused("another fix edits this statement")
    target = stmt.targets[0].target
    if fix.edit is Edit.REGISTER:
        wrapper = cst.parse_expression(_spelled(index.module, str(fix.value)))
        statements[stmt] = stmt.with_changes(value=cst.Call(wrapper, [cst.Arg(stmt.value)]))
        return
    if not isinstance(target, cst.Attribute):
        raise _Refused("the assignment does not set an attribute")
    name = cst.Name(str(fix.value))
    if fix.edit is Edit.RENAME_ATTRIBUTE:
        statements[stmt] = stmt.with_changes(
            targets=[stmt.targets[0].with_changes(target=target.with_changes(attr=name))])
    else:  # CALL_SETTER
        statements[stmt] = cst.Expr(cst.Call(target.with_changes(attr=name),
                                             [cst.Arg(stmt.value)]))
