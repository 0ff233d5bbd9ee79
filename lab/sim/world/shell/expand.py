"""Word expansion as sh does it, in its order: tilde, parameters, command substitution, arithmetic; then
field splitting of what unquoted expansions produced (on IFS), pathname expansion against the pod's
filesystem view, and quote removal.

`state` is the interpreter (interp.Shell): its variables, positional parameters, last status, and a
way to run a command substitution's body and capture its output.
"""
from __future__ import annotations

import ast
import fnmatch
import re

from .syntax import Arith, CmdSub, Lit, Param, Word


class ExpansionError(Exception):
    """`${x:?message}` and bad arithmetic: the shell prints it and the command does not run (status 1/2)."""

    def __init__(self, message: str, status: int = 2):
        super().__init__(message)
        self.status = status


class _Fields:
    """Fields being built: text, the same with glob characters of quoted parts escaped, and whether an
    unquoted glob character is in it."""

    def __init__(self) -> None:
        self.done: list[tuple[str, str, bool]] = []
        self.text, self.pattern, self.globbing, self.started = "", "", False, False

    def add(self, text: str, quoted: bool) -> None:
        self.started = True
        self.text += text
        if quoted:
            self.pattern += "".join(f"[{c}]" if c in "*?[" else c for c in text)
        else:
            self.pattern += text
            self.globbing = self.globbing or any(c in text for c in "*?[")

    def add_split(self, text: str, ifs: str) -> None:
        """An unquoted expansion's result: split at IFS characters."""
        white = "".join(c for c in ifs if c in " \t\n")
        for i, piece in enumerate(re.split(f"[{re.escape(ifs)}]+", text) if ifs else [text]):
            if i:
                self.end()
            if piece:
                self.add(piece, False)
        if text and ifs and text[-1] in ifs and white:
            self.end()

    def end(self) -> None:
        if self.started:
            self.done.append((self.text, self.pattern, self.globbing))
        self.text, self.pattern, self.globbing, self.started = "", "", False, False


async def words(state, items: list[Word]) -> list[str]:
    """The fields a command's words expand to."""
    out: list[str] = []
    for word in items:
        out += await fields(state, word)
    return out


async def fields(state, word: Word) -> list[str]:
    built = _Fields()
    ifs = state.get_var("IFS")
    ifs = " \t\n" if ifs is None else ifs
    for i, part in enumerate(word.parts):
        if isinstance(part, Lit):
            text = part.text
            if i == 0 and not part.quoted and text.startswith("~"):
                text = _tilde(state, text)
            built.add(text, part.quoted)
        elif isinstance(part, Param) and part.name == "@" and not part.op:
            args = state.positional
            if part.quoted:
                for j, arg in enumerate(args):
                    if j:
                        built.end()
                    built.add(arg, True)
            else:
                for arg in args:
                    built.add_split(arg, ifs or " ")
                    built.end()
        else:
            value = await _value(state, part)
            if part.quoted:
                built.add(value, True)
            else:
                built.add_split(value, ifs)
    built.end()
    result = []
    for text, pattern, globbing in built.done:
        matches = state.pod.glob(pattern) if globbing and not state.noglob else []
        result += matches or [text]
    return result


async def single(state, word: Word) -> str:
    """A word expanded without field splitting or pathname expansion (assignments, redirection targets,
    `case` words, here-documents)."""
    out = []
    for i, part in enumerate(word.parts):
        if isinstance(part, Lit):
            out.append(_tilde(state, part.text) if i == 0 and not part.quoted and part.text.startswith("~") else part.text)
        elif isinstance(part, Param) and part.name in ("@", "*") and not part.op:
            out.append(" ".join(state.positional))
        else:
            out.append(await _value(state, part))
    return "".join(out)


async def pattern(state, word: Word) -> str:
    """A `case` pattern or ${x#pattern}: quoted characters match themselves."""
    out = []
    for part in word.parts:
        if isinstance(part, Lit) and not part.quoted:
            out.append(part.text)
        else:
            text = part.text if isinstance(part, Lit) else await _value(state, part)
            out.append("".join(f"[{c}]" if c in "*?[" else c for c in text) if getattr(part, "quoted", False) else text)
    return "".join(out)


def _tilde(state, text: str) -> str:
    head, sep, rest = text.partition("/")
    if head == "~":
        return (state.get_var("HOME") or "/") + sep + rest
    return text


async def _value(state, part) -> str:
    if isinstance(part, Lit):
        return part.text
    if isinstance(part, CmdSub):
        return (await state.capture(part.body)).decode("utf-8", "replace").rstrip("\n")
    if isinstance(part, Arith):
        return str(arithmetic(state, await _arith_text(state, part.text)))
    return await _param(state, part)


async def _arith_text(state, text: str) -> str:
    """$name and ${name} inside $((...)) expanded first, as sh does."""
    return re.sub(r"\$\{?([A-Za-z_][A-Za-z0-9_]*|[0-9?#$])\}?", lambda m: _special_or_var(state, m.group(1)) or "0", text)


def _special_or_var(state, name: str) -> str | None:
    if name == "?":
        return str(state.status)
    if name == "#":
        return str(len(state.positional))
    if name == "$":
        return str(state.pid)
    if name == "!":
        return str(state.last_bg) if state.last_bg else ""
    if name == "-":
        return "".join(sorted(state.options))
    if name == "0":
        return state.argv0
    if name.isdigit():
        n = int(name)
        return state.positional[n - 1] if n <= len(state.positional) else None
    if name in ("*", "@"):
        return " ".join(state.positional)
    return state.get_var(name)


async def _param(state, part: Param) -> str:
    value = _special_or_var(state, part.name)
    op = part.op
    if op == "len":
        return str(len(value or ""))
    if not op:
        if value is None and "u" in state.options:
            raise ExpansionError(f"{part.name}: parameter not set")
        return value or ""
    unset = value is None or (op.startswith(":") and value == "")
    if op in (":-", "-"):
        return await single(state, part.arg) if unset else value
    if op in (":=", "="):
        if unset:
            value = await single(state, part.arg)
            state.set_var(part.name, value)
        return value
    if op in (":+", "+"):
        return "" if unset else await single(state, part.arg)
    if op in (":?", "?"):
        if unset:
            message = await single(state, part.arg) if part.arg and part.arg.parts else "parameter not set"
            raise ExpansionError(f"{part.name}: {message}")
        return value
    value = value or ""
    pat = await pattern(state, part.arg)
    if op in ("#", "##"):
        cuts = range(len(value) + 1) if op == "#" else range(len(value), -1, -1)
        return next((value[i:] for i in cuts if fnmatch.fnmatchcase(value[:i], pat)), value)
    cuts = range(len(value), -1, -1) if op == "%" else range(len(value) + 1)
    return next((value[:i] for i in cuts if fnmatch.fnmatchcase(value[i:], pat)), value)


# -- arithmetic ---------------------------------------------------------------------------------------------
_TOKEN = re.compile(r"\s*(0[xX][0-9a-fA-F]+|\d+|[A-Za-z_][A-Za-z0-9_]*|\*\*|<<|>>|<=|>=|==|!=|&&|\|\||[-+*/%()<>!~&|^?:])")
_ALLOWED = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare, ast.Constant, ast.IfExp, ast.Add,
            ast.Sub, ast.Mult, ast.FloorDiv, ast.Mod, ast.Pow, ast.LShift, ast.RShift, ast.BitAnd, ast.BitOr,
            ast.BitXor, ast.USub, ast.UAdd, ast.Invert, ast.Not, ast.And, ast.Or, ast.Lt, ast.Gt, ast.LtE, ast.GtE,
            ast.Eq, ast.NotEq)


def arithmetic(state, text: str) -> int:
    """$((...)): integers, variables by name, C's operators (no assignment); nothing else is evaluated."""
    out, pos = [], 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise ExpansionError(f"arithmetic syntax error", 2)
        tok, pos = m.group(1), m.end()
        if tok[0].isalpha() or tok[0] == "_":
            raw = state.get_var(tok) or "0"
            try:
                out.append(str(int(raw, 0) if raw.lower().startswith("0x") else int(raw)))
            except ValueError:
                raise ExpansionError("arithmetic syntax error", 2) from None
        elif tok.isdigit() and len(tok) > 1 and tok.startswith("0"):
            out.append(str(int(tok, 8)))
        else:
            out.append({"&&": " and ", "||": " or ", "!": " not ", "/": "//"}.get(tok, tok))
    expr = " ".join(out)
    try:
        tree = ast.parse(expr or "0", mode="eval")
    except SyntaxError:
        raise ExpansionError("arithmetic syntax error", 2) from None
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED):
            raise ExpansionError("arithmetic syntax error", 2)
    try:
        return int(_eval(tree.body))
    except ZeroDivisionError:
        raise ExpansionError("divide by zero", 2) from None


def _eval(node):
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.UnaryOp):
        value = _eval(node.operand)
        return {ast.USub: lambda v: -v, ast.UAdd: lambda v: v, ast.Invert: lambda v: ~v,
                ast.Not: lambda v: int(not v)}[type(node.op)](value)
    if isinstance(node, ast.BoolOp):
        values = [_eval(v) for v in node.values]
        return int(all(values) if isinstance(node.op, ast.And) else any(values))
    if isinstance(node, ast.Compare):
        left, ok = _eval(node.left), True
        for op, right in zip(node.ops, node.comparators):
            r = _eval(right)
            ok = ok and {ast.Lt: left < r, ast.Gt: left > r, ast.LtE: left <= r, ast.GtE: left >= r,
                         ast.Eq: left == r, ast.NotEq: left != r}[type(op)]
            left = r
        return int(ok)
    left, right = _eval(node.left), _eval(node.right)
    if isinstance(node.op, ast.FloorDiv):  # C division: toward zero
        q = abs(left) // abs(right)
        return q if (left >= 0) == (right >= 0) else -q
    if isinstance(node.op, ast.Mod):
        return left - right * _eval(ast.BinOp(ast.Constant(left), ast.FloorDiv(), ast.Constant(right)))
    if isinstance(node.op, ast.Pow) and right > 64:
        raise ExpansionError("arithmetic: exponent too large", 2)
    return {ast.Add: lambda: left + right, ast.Sub: lambda: left - right, ast.Mult: lambda: left * right,
            ast.Pow: lambda: left ** right, ast.LShift: lambda: left << min(right, 64), ast.RShift: lambda: left >> right,
            ast.BitAnd: lambda: left & right, ast.BitOr: lambda: left | right, ast.BitXor: lambda: left ^ right}[type(node.op)]()
