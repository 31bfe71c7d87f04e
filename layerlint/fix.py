"""What a fix does, said in terms of layers (rules stay IR-only).

A rule attaches a ``Fix`` to its finding; ``layerlint.frontends.source_fixer`` turns it
into a LibCST edit of the source, and refuses (leaving the file alone) when the
source is not in a shape it can edit exactly: a fix is never a guess.

A rule's fix is an intent. The engine offers it only once it is verified
(``layerlint.engine``): applied alone, the result parses and re-linting it no longer
reports the finding nor any new finding of that rule. A verified fix carries its
``edits``, the text replacements that apply it; the findings of ``lint`` and of
``check_paths(fixable=True)`` carry only verified fixes.
"""

from __future__ import annotations

import bisect
import difflib
import enum
import os
import re
from dataclasses import dataclass, replace

from layerlint.ir import Layer, Location

__all__ = ["Edit", "Fix", "TextEdit", "text_edits"]


class Edit(str, enum.Enum):
    SET_ARGUMENT = "set-argument"  # set a keyword argument of the layer's constructor
    REMOVE = "remove"  # remove the layer from a literal Sequential
    MOVE_AFTER = "move-after"  # move the layer after ``anchor`` in the same literal Sequential
    RENAME = "rename"  # call ``value`` (a name in the same module) instead of the layer's op
    UNWRAP = "unwrap"  # replace a one-argument functional call by its argument
    # Training code (the frontend's facts give the spellings; rules pass them on):
    SET_EXPRESSION = "set-expression"  # set keyword ``argument`` of the call to code ``value``
    REGISTER = "register"  # wrap an assigned container in a call of ``value`` (qualified)
    CALL_SETTER = "call-setter"  # ``x.attr = v`` -> ``x.<value>(v)``
    RENAME_ATTRIBUTE = "rename-attribute"  # ``x.attr = v`` -> ``x.<value> = v``


@dataclass(frozen=True, slots=True)
class TextEdit:
    """Replace the text from (line, column) up to, not including, (end_line, end_column)
    by ``content``. Lines and columns are 1-based, columns count characters (code
    points), as in findings."""

    content: str
    line: int
    column: int
    end_line: int
    end_column: int


@dataclass(frozen=True, slots=True)
class Fix:
    edit: Edit
    description: str
    safe: bool
    target: Location  # the layer's constructor call
    op: str = ""  # the layer's canonical op (which positional slot an argument has)
    anchor: Location | None = None
    argument: str | None = None
    value: bool | int | float | str | None = None
    # a second edit that must be applied together with this one, in the same file
    companion: Fix | None = None
    # the text replacements that apply the fix (all of them, companion included), once
    # the engine has verified it; () for a rule's unverified intent
    edits: tuple[TextEdit, ...] = ()

    # -- intents: what a rule asks for, spelled per framework here ----------------------
    @classmethod
    def drop_bias(cls, layer: Layer, *, safe: bool) -> Fix | None:
        """Build the weighted layer without a bias (its bias argument set to False)."""
        argument = layer.weighted.bias_argument
        if argument is None or not _in_source(layer):
            return None
        return cls.set_argument(layer, argument, False, safe=safe)

    @classmethod
    def fuse_into_loss(cls, squash: Layer, loss: Layer, *, safe: bool) -> Fix | None:
        """Feed ``loss`` logits: its with-logits form, and ``squash`` dropped, together."""
        from layerlint.frontends.spelling import FUNCTIONAL_SQUASH, MODULE_SQUASH, WITH_LOGITS

        fused = WITH_LOGITS.get(loss.op)
        if fused is None or not (_in_source(loss) and _in_source(squash)):
            return None
        if squash.op in FUNCTIONAL_SQUASH:
            drop = cls.unwrap(squash, safe=safe)
        elif squash.op in MODULE_SQUASH:
            drop = cls.remove(squash, safe=safe)
        else:
            return None
        return cls.rename(loss, fused, safe=safe).with_companion(drop)

    @classmethod
    def loss_on_logits(cls, loss: Layer, *, safe: bool) -> Fix | None:
        """Make ``loss`` take logits: the with-logits callable, or ``from_logits=True`` on a
        loss object (not on a loss named by a string, which has no argument to set)."""
        from layerlint.frontends.spelling import FROM_LOGITS_PREFIX, ON_LOGITS

        if not _in_source(loss):
            return None
        if loss.op in ON_LOGITS:
            return cls.rename(loss, ON_LOGITS[loss.op], safe=safe)
        if loss.op.startswith(FROM_LOGITS_PREFIX) and loss.attrs.get("from_logits") is False \
                and not loss.label.startswith('"'):
            return cls.set_argument(loss, "from_logits", True, safe=safe)
        return None

    @classmethod
    def set_axis(cls, softmax: Layer, axis: int, *, safe: bool) -> Fix | None:
        """Give the softmax its axis explicitly."""
        argument = softmax.softmax.axis_argument
        if argument is None or not _in_source(softmax):
            return None
        return cls.set_argument(softmax, argument, axis, safe=safe)

    @classmethod
    def to_log_form(cls, softmax: Layer, *, safe: bool) -> Fix | None:
        """Compute the log of the softmax in one op (its log-softmax form)."""
        from layerlint.frontends.spelling import LOG_FORM

        name = LOG_FORM.get(softmax.op)
        return cls.rename(softmax, name, safe=safe) if name and _in_source(softmax) else None

    @classmethod
    def fuse_log(cls, log: Layer, softmax: Layer, *, safe: bool) -> Fix | None:
        """``log(softmax(x))`` as one log-softmax call: the log dropped, the softmax
        renamed, together."""
        from layerlint.frontends.spelling import LOG_FUNCTIONS, LOG_OF_CALL

        name = LOG_OF_CALL.get(softmax.op)
        if name is None or log.op not in LOG_FUNCTIONS or not _in_source(log):
            return None
        return cls.unwrap(log, safe=safe).with_companion(cls.rename(softmax, name, safe=safe))

    @classmethod
    def move(cls, layer: Layer, after: Layer, *, safe: bool) -> Fix | None:
        """Move ``layer`` right after ``after`` (in one literal Sequential)."""
        return cls.move_after(layer, after, safe=safe) if _in_source(layer) else None

    @classmethod
    def follow_mode(cls, call: Location, op: str, self_name: str | None) -> Fix | None:
        """Make a functional dropout / batchnorm in a layer's own method follow the
        layer's mode (``self_name``: the method's ``self``). Unsafe: evaluation changes."""
        from layerlint.frontends.spelling import FOLLOW_MODE

        if op not in FOLLOW_MODE or not self_name:
            return None
        keyword, template = FOLLOW_MODE[op]
        mode = template.format(self=self_name)
        return cls(Edit.SET_EXPRESSION, f"set `{keyword}={mode}`", False, call, op,
                   argument=keyword, value=mode)

    @classmethod
    def register(cls, assignment: Location, base: str, container: str) -> Fix | None:
        """Hold the layers of a plain ``container`` (list, tuple, dict) assigned on a
        layer of ``base`` in the framework's registering container. Unsafe: the
        parameters and ``state_dict()`` keys change."""
        from layerlint.frontends.spelling import REGISTERING

        wrapper = REGISTERING.get(base, {}).get(container)
        if wrapper is None:
            return None
        return cls(Edit.REGISTER, f"hold them in `{wrapper.rsplit('.', 1)[-1]}`", False,
                   assignment, value=wrapper)

    @classmethod
    def set_on_parameters(cls, assignment: Location, base: str, flag: str, value: str
                          ) -> Fix | None:
        """``module.flag = v`` as the framework's method that sets ``flag`` on every
        parameter of the module. Unsafe: it changes which parameters train."""
        from layerlint.frontends.spelling import SETTERS

        setter = SETTERS.get(base, {}).get(flag)
        if setter is None:
            return None
        return cls(Edit.CALL_SETTER, f"call `{setter}({value})`", False, assignment,
                   value=setter)

    @classmethod
    def respell(cls, assignment: Location, attribute: str) -> Fix:
        """``x.<near miss> = v`` -> ``x.<attribute> = v``. Unsafe: the flag takes effect."""
        return cls(Edit.RENAME_ATTRIBUTE, f"spell it `{attribute}`", False, assignment,
                   value=attribute)

    # -- edits ------------------------------------------------------------------------
    @classmethod
    def set_argument(cls, layer: Layer, argument: str, value: bool | int | float | str | None,
                     *, safe: bool) -> Fix:
        return cls(Edit.SET_ARGUMENT, f"set `{argument}={value!r}`", safe, layer.location,
                   layer.op, argument=argument, value=value)

    @classmethod
    def remove(cls, layer: Layer, *, safe: bool) -> Fix:
        return cls(Edit.REMOVE, f"remove `{layer.label}`", safe, layer.location, layer.op)

    @classmethod
    def move_after(cls, layer: Layer, anchor: Layer, *, safe: bool) -> Fix:
        return cls(Edit.MOVE_AFTER, f"move `{layer.label}` after `{anchor.label}`", safe,
                   layer.location, layer.op, anchor=anchor.location)

    @classmethod
    def rename(cls, layer: Layer, name: str, *, safe: bool) -> Fix:
        return cls(Edit.RENAME, f"use `{name}` instead of `{layer.op.rsplit('.', 1)[-1]}`",
                   safe, layer.location, layer.op, value=name)

    @classmethod
    def unwrap(cls, layer: Layer, *, safe: bool) -> Fix:
        return cls(Edit.UNWRAP, f"drop `{layer.label}`", safe, layer.location, layer.op)

    def with_companion(self, other: Fix) -> Fix:
        """This edit and ``other``, applied together or not at all."""
        return Fix(self.edit, f"{self.description} and {other.description}", self.safe and
                   other.safe, self.target, self.op, self.anchor, self.argument, self.value,
                   other)

    def verified(self, edits: tuple[TextEdit, ...]) -> Fix:
        return replace(self, edits=edits)

    def to_dict(self) -> dict:
        """As ruff's JSON: applicability, message and the edits (1-based rows and
        columns, the end exclusive)."""
        return {"applicability": "safe" if self.safe else "unsafe",
                "message": self.description,
                "edits": [{"content": e.content,
                           "location": {"row": e.line, "column": e.column},
                           "end_location": {"row": e.end_line, "column": e.end_column}}
                          for e in self.edits]}


_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def _positions(text: str) -> list[int]:
    """The offset where each line starts (line breaks as Python reads them)."""
    return [0, *(m.end() for m in _LINE_BREAK.finditer(text))]


def text_edits(original: str, fixed: str) -> tuple[TextEdit, ...]:
    """The replacements that turn ``original`` into ``fixed``: one per changed run of
    lines, trimmed to the characters that differ."""
    old_starts, new_starts = _positions(original), _positions(fixed)
    matcher = difflib.SequenceMatcher(None, _lines(original, old_starts),
                                      _lines(fixed, new_starts), autojunk=False)
    edits = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        start, end = _offset(original, old_starts, i1), _offset(original, old_starts, i2)
        old = original[start:end]
        new = fixed[_offset(fixed, new_starts, j1):_offset(fixed, new_starts, j2)]
        prefix = len(os.path.commonprefix([old, new]))
        suffix = len(os.path.commonprefix([old[prefix:][::-1], new[prefix:][::-1]]))
        edits.append(TextEdit(new[prefix:len(new) - suffix],
                              *_point(old_starts, start + prefix),
                              *_point(old_starts, end - suffix)))
    return tuple(edits)


def _lines(text: str, starts: list[int]) -> list[str]:
    return [text[a:b] for a, b in zip(starts, [*starts[1:], len(text)])]


def _offset(text: str, starts: list[int], line: int) -> int:
    return starts[line] if line < len(starts) else len(text)


def _point(starts: list[int], offset: int) -> tuple[int, int]:
    line = bisect.bisect_right(starts, offset)
    return line, offset - starts[line - 1] + 1


def _in_source(layer: Layer) -> bool:
    """Whether the layer is written in source code (an ONNX node is not)."""
    return layer.location.node is None
