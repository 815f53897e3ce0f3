"""docs/configuration.md lists exactly the environment variables the code reads.

The names are found in the sources with `ast`, not from a hand-kept list. The one
primitive is a read of `os.environ` (`os.environ.get(name)`, `os.environ[name]`,
`os.getenv(name)`, or `.get(name)` on an expression involving `os.environ`, as
`common.config.env_str` does). A name built from a function's parameter
(`f"{prefix}_GRACE_S"`) makes that function a template; every call of it then
reads the names its arguments fill in, through as many helpers as there are
(`env_int` → `_env_number` → `env_str`; `settings_from_env` → `server_tls_from_env`).
A name the resolver cannot work out fails the test, so a new way of reading the
environment cannot slip past it.

Variables read only under tests/ and bench/ belong in the page's "Tests and benchmarks"
table; those only the manifests in k8s/ use (`$(NAME)`) in its "Kubernetes only" table.
"""

from __future__ import annotations

import ast
import functools
import itertools
import os
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "configuration.md"
# Generated stubs, run-time data and (like every dot-folder, .venv) installed packages hold no
# code of ours.
SKIPPED_DIRS = {"gen", "var", "node_modules", "__pycache__", "keyart.egg-info"}
# Code read only here is the test suite's or the benchmarks', not a service's: its variables
# belong in the page's own table for them.
TEST_ONLY_DIRS = ("tests", "bench")
TEST_ONLY_SECTION = "Tests and benchmarks"
# Variables only the Kubernetes manifests use, as `$(NAME)`, sit in their own table.
MANIFESTS = ROOT / "k8s"
MANIFEST_SECTION = "Kubernetes only"
MANIFEST_REFERENCE = re.compile(r"\$\(([A-Z][A-Z0-9_]*)\)")
# `<SERVICE>_X` on the page stands for X under each prefix this helper is called with.
SERVER_SETTINGS_HELPER = "settings_from_env"
SERVICE_PLACEHOLDER = "<SERVICE>_"
VARIABLE = re.compile(r"(?:<SERVICE>_)?[A-Z][A-Z0-9_]*")


@dataclass(frozen=True)
class Param:
    """A hole in a name: the value of `function`'s parameter `name`."""

    function: str
    name: str


Part = str | Param
Pattern = tuple[Part, ...]


class Unresolved(Exception):
    """An environment variable's name this test cannot work out."""


@dataclass(frozen=True)
class Read:
    pattern: Pattern
    where: str  # file:line


def python_sources() -> Iterator[Path]:
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS and not d.startswith("."))
        yield from (Path(folder) / name for name in sorted(files) if name.endswith(".py"))


def _join(patterns: Iterable[Pattern]) -> Pattern:
    """Concatenates patterns, merging neighbouring strings."""
    out: list[Part] = []
    for part in itertools.chain.from_iterable(patterns):
        if isinstance(part, str) and out and isinstance(out[-1], str):
            out[-1] = out[-1] + part
        elif part != "":
            out.append(part)
    return tuple(out)


def _is_environ(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Attribute)
        and node.attr == "environ"
        and isinstance(node.value, ast.Name)
        and node.value.id == "os"
    )


def _reads_environ(func: ast.expr) -> bool:
    """`os.getenv`, or `.get` on os.environ or on an expression involving it."""
    if not isinstance(func, ast.Attribute):
        return False
    if func.attr == "getenv":
        return isinstance(func.value, ast.Name) and func.value.id == "os"
    return func.attr == "get" and any(_is_environ(sub) for sub in ast.walk(func.value))


class Module:
    """One source file: its module-level constants, and a parent map for scopes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = str(path.relative_to(ROOT))
        self.tree = ast.parse(path.read_text(), filename=self.name)
        self.parents: dict[ast.AST, ast.AST] = {}
        for parent in ast.walk(self.tree):
            for child in ast.iter_child_nodes(parent):
                self.parents[child] = parent
        self.constants: dict[str, ast.expr] = {}
        for stmt in self.tree.body:
            if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
                target, value = stmt.targets[0], stmt.value
            elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
                target, value = stmt.target, stmt.value
            else:
                continue
            if isinstance(target, ast.Name):
                self.constants[target.id] = value
        # `from package import module`: that module's constants, read as `module.NAME`.
        self.imported: dict[str, Path] = {}
        for stmt in self.tree.body:
            if isinstance(stmt, ast.ImportFrom) and stmt.module and not stmt.level:
                for alias in stmt.names:
                    source = ROOT / stmt.module.replace(".", "/") / f"{alias.name}.py"
                    if source.exists():
                        self.imported[alias.asname or alias.name] = source

    def constant(self, expr: ast.expr) -> ast.expr | None:
        """The literal a module constant (`NAME`, or `module.NAME` of an imported module) holds."""
        if isinstance(expr, ast.Name):
            return self.constants.get(expr.id)
        if (
            isinstance(expr, ast.Attribute)
            and isinstance(expr.value, ast.Name)
            and expr.value.id in self.imported
        ):
            return Module(self.imported[expr.value.id]).constants.get(expr.attr)
        return None

    def where(self, node: ast.AST) -> str:
        return f"{self.name}:{getattr(node, 'lineno', 0)}"

    def enclosing(self, node: ast.AST) -> Iterator[ast.AST]:
        while node in self.parents:
            node = self.parents[node]
            yield node

    def function_of(self, node: ast.AST) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
        for scope in self.enclosing(node):
            if isinstance(scope, ast.FunctionDef | ast.AsyncFunctionDef):
                return scope
        return None

    # -- evaluating a name expression into patterns --------------------------------------

    def patterns(self, expr: ast.expr, at: ast.AST) -> set[Pattern]:
        if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
            return {(expr.value,)}
        if isinstance(expr, ast.JoinedStr):
            pieces = [self.patterns(value, at) for value in expr.values]
            return {_join(combo) for combo in itertools.product(*pieces)}
        if isinstance(expr, ast.FormattedValue) and expr.format_spec is None:
            return self.patterns(expr.value, at)
        if (
            isinstance(expr, ast.Call)
            and isinstance(expr.func, ast.Attribute)
            and expr.func.attr in ("upper", "lower")
            and not expr.args
        ):
            inner = self.patterns(expr.func.value, at)
            if any(isinstance(part, Param) for pattern in inner for part in pattern):
                raise Unresolved(f"{self.where(expr)}: .{expr.func.attr}() of a parameter")
            return {tuple(getattr(str(p), expr.func.attr)() for p in pattern) for pattern in inner}
        if isinstance(expr, ast.Name):
            return self._name(expr, at)
        raise Unresolved(f"{self.where(expr)}: {ast.unparse(expr)}")

    def _name(self, expr: ast.Name, at: ast.AST) -> set[Pattern]:
        for scope in self.enclosing(at):
            if isinstance(scope, ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp):
                for generator in scope.generators:
                    bound = self._bound_by(generator, expr.id)
                    if bound is not None:
                        return bound
            if isinstance(scope, ast.FunctionDef | ast.AsyncFunctionDef):
                if expr.id in _param_names(scope):
                    return {(Param(scope.name, expr.id),)}
                break
        if expr.id in self.constants:
            return self.patterns(self.constants[expr.id], at)
        raise Unresolved(f"{self.where(expr)}: the name {expr.id!r}")

    def _bound_by(self, generator: ast.comprehension, name: str) -> set[Pattern] | None:
        """The values `name` takes in `for <target> in <iter>`, or None when it is not bound there."""
        target = generator.target
        if isinstance(target, ast.Name):
            index = None if target.id == name else -1
        elif isinstance(target, ast.Tuple):
            names = [elt.id if isinstance(elt, ast.Name) else "" for elt in target.elts]
            index = names.index(name) if name in names else -1
        else:
            index = -1
        if index == -1:
            return None
        values = []
        for item in self._items(generator.iter):
            if index is None:
                values.append(item)
            elif isinstance(item, ast.Tuple) and index < len(item.elts):
                values.append(item.elts[index])
            else:
                raise Unresolved(f"{self.where(generator.iter)}: unpacking {ast.unparse(item)}")
        return set().union(*(self.patterns(value, generator.iter) for value in values))

    def _items(self, expr: ast.expr) -> list[ast.expr]:
        """The elements a literal (or a module constant holding one) iterates over."""
        if isinstance(expr, ast.Name) and expr.id in self.constants:
            return self._items(self.constants[expr.id])
        if isinstance(expr, ast.Tuple | ast.List | ast.Set):
            return list(expr.elts)
        if (
            isinstance(expr, ast.Call)
            and isinstance(expr.func, ast.Attribute)
            and expr.func.attr in ("items", "keys")
        ):
            mapping = self.constant(expr.func.value) or expr.func.value
            if isinstance(mapping, ast.Dict):
                keys = [key for key in mapping.keys if key is not None]
                if expr.func.attr == "keys":
                    return keys
                return [ast.Tuple(elts=[k, v]) for k, v in zip(keys, mapping.values, strict=True)]
        raise Unresolved(f"{self.where(expr)}: iterating {ast.unparse(expr)}")

    # -- finding the reads ---------------------------------------------------------------

    def primitive_reads(self) -> Iterator[tuple[ast.expr, ast.AST]]:
        """(name expression, node) for every direct read of os.environ."""
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Subscript) and _is_environ(node.value):
                if isinstance(node.ctx, ast.Load):
                    yield node.slice, node
            elif isinstance(node, ast.Call) and node.args and _reads_environ(node.func):
                yield node.args[0], node

    def calls(self) -> Iterator[tuple[str, ast.Call]]:
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Call):
                func = node.func
                if isinstance(func, ast.Name):
                    yield func.id, node
                elif isinstance(func, ast.Attribute):
                    yield func.attr, node


def _param_names(function: ast.FunctionDef | ast.AsyncFunctionDef) -> list[str]:
    args = function.args
    return [a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)]


def _argument(
    call: ast.Call, function: ast.FunctionDef | ast.AsyncFunctionDef, name: str
) -> ast.expr | None:
    for keyword in call.keywords:
        if keyword.arg == name:
            return keyword.value
    positional = [a.arg for a in (*function.args.posonlyargs, *function.args.args)]
    if function.args.args and positional[0] in ("self", "cls"):
        positional = positional[1:]
    if name in positional and positional.index(name) < len(call.args):
        return call.args[positional.index(name)]
    return None


def _is_mapping_read(call: ast.Call) -> bool:
    """`env_str(name, default, env=mapping)` reads the mapping a caller passed, not the environment."""
    return any(
        keyword.arg == "env"
        and not (isinstance(keyword.value, ast.Constant) and keyword.value.value is None)
        for keyword in call.keywords
    )


def environment_reads(modules: list[Module]) -> tuple[list[Read], dict[str, set[str]]]:
    """Every concrete variable read, and the values each template helper's prefix took."""
    functions: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = {}
    for module in modules:
        for node in ast.walk(module.tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                functions.setdefault(node.name, node)

    reads: set[Read] = set()
    problems: list[str] = []
    for module in modules:
        for expr, node in module.primitive_reads():
            try:
                reads.update(Read(p, module.where(node)) for p in module.patterns(expr, node))
            except Unresolved as err:
                problems.append(str(err))

    arguments: dict[str, set[str]] = defaultdict(set)
    done: set[Read] = set()
    while pending := [read for read in reads if read not in done]:
        for read in pending:
            done.add(read)
            holes = {part for part in read.pattern if isinstance(part, Param)}
            for hole in holes:
                function = functions[hole.function]
                for module in modules:
                    for name, call in module.calls():
                        if name != hole.function or _is_mapping_read(call):
                            continue
                        argument = _argument(call, function, hole.name)
                        if argument is None:
                            problems.append(f"{module.where(call)}: {hole.name} not passed")
                            continue
                        try:
                            values = module.patterns(argument, call)
                        except Unresolved as err:
                            problems.append(str(err))
                            continue
                        for value in values:
                            if all(isinstance(part, str) for part in value):
                                arguments[hole.function].add("".join(map(str, value)))
                            filled = _join(
                                value if part == hole else (part,) for part in read.pattern
                            )
                            reads.add(Read(filled, module.where(call)))
    if problems:
        pytest.fail("cannot tell which environment variable is read at:\n" + "\n".join(problems))
    concrete = [r for r in reads if all(isinstance(part, str) for part in r.pattern)]
    return concrete, dict(arguments)


@functools.cache
def read_by_code() -> tuple[dict[str, set[str]], set[str]]:
    """{variable: where it is read} for the whole tree, and the server prefixes."""
    modules = [Module(path) for path in python_sources()]
    reads, prefixes = environment_reads(modules)
    where: dict[str, set[str]] = defaultdict(set)
    for read in reads:
        where["".join(map(str, read.pattern))].add(read.where)
    return dict(where), prefixes.get(SERVER_SETTINGS_HELPER, set())


def documented(page: str, prefixes: set[str]) -> dict[str, str]:
    """{variable: the `## ` section whose table lists it} from the first column of every table."""
    listed: dict[str, str] = {}
    section = ""
    for number, line in enumerate(page.splitlines(), 1):
        if line.startswith("## "):
            section = line[3:].strip()
        if not line.startswith("|"):
            continue
        first = line.split("|")[1].strip()
        if first in ("Variable", "variable") or set(first) <= set("- :"):
            continue
        names = re.findall(r"`([^`]*)`", first)
        if not names or any(not VARIABLE.fullmatch(name) for name in names):
            pytest.fail(f"{PAGE.name}:{number}: a row's first column must name variables: {first}")
        for name in names:
            expanded = (
                [prefix + "_" + name.removeprefix(SERVICE_PLACEHOLDER) for prefix in prefixes]
                if name.startswith(SERVICE_PLACEHOLDER)
                else [name]
            )
            for variable in expanded:
                listed[variable] = section
    return listed


def used_by_manifests() -> set[str]:
    return {
        name
        for path in MANIFESTS.rglob("*.yaml")
        for name in MANIFEST_REFERENCE.findall(path.read_text())
    }


def drift(page: str) -> list[str]:
    """What is wrong between the page and the code, one line per variable; empty when in step."""
    code, prefixes = read_by_code()
    assert prefixes, f"no call of {SERVER_SETTINGS_HELPER} found: the server prefixes are unknown"
    listed = documented(page, prefixes)
    manifests_only = used_by_manifests() - set(code)
    problems = [
        f"{name} is used by k8s/ but missing from the {MANIFEST_SECTION!r} table"
        for name in sorted(manifests_only)
        if listed.get(name) != MANIFEST_SECTION
    ]
    problems += [
        f"{name} is in the {MANIFEST_SECTION!r} table but not used as $({name}) in k8s/"
        for name, section in sorted(listed.items())
        if section == MANIFEST_SECTION and name not in manifests_only
    ]
    docs = {name: section for name, section in listed.items() if section != MANIFEST_SECTION}
    problems += [
        f"{name} is read ({', '.join(sorted(code[name]))}) but missing from {PAGE.name}"
        for name in sorted(set(code) - set(docs))
    ]
    problems += [
        f"{name} is on {PAGE.name} but no code reads it" for name in sorted(set(docs) - set(code))
    ]
    for name in sorted(set(code) & set(docs)):
        test_only = all(where.startswith(TEST_ONLY_DIRS) for where in code[name])
        if test_only != (docs[name] == TEST_ONLY_SECTION):
            wanted = f"in {TEST_ONLY_SECTION!r}" if test_only else f"outside {TEST_ONLY_SECTION!r}"
            problems.append(f"{name} belongs {wanted} (read at {', '.join(sorted(code[name]))})")
    return problems


def test_the_configuration_page_lists_exactly_what_the_code_reads() -> None:
    problems = drift(PAGE.read_text())
    assert not problems, "\n".join(problems)


def test_the_reads_include_each_kind_of_helper() -> None:
    """Guards the resolver itself: a helper it silently stopped following would shrink the set."""
    code, prefixes = read_by_code()
    assert prefixes == {"GATEWAY", "PROFILE", "ARTWORK", "RANKER"}
    for name in (
        "GATEWAY_MAX_ROWS",  # env_int, through _env_number and env_str
        "RANKER_GRACE_S",  # settings_from_env's prefix
        "PROFILE_TLS_CLIENT_CA",  # a generator over parts inside server_tls_from_env
        "RANKER_ARTWORK_TLS_SERVER_NAME",  # client_tls_from_env
        "PREVIEW_ADDRESS",  # a dict comprehension over keyart run's default addresses
        "KEYART_CHAOS_LONG",  # os.environ.get in the tests
    ):
        assert name in code, name


def _rows(page: str) -> list[str]:
    return [line for line in page.splitlines() if line.startswith("| `")]


def test_a_row_removed_from_the_page_is_named() -> None:
    page = PAGE.read_text()
    row = next(line for line in _rows(page) if line.startswith("| `PROFILE_HALF_LIFE_DAYS`"))
    problems = drift(page.replace(row + "\n", ""))
    assert len(problems) == 1, problems
    assert problems[0].startswith("PROFILE_HALF_LIFE_DAYS is read (services/profile/config.py:")
    assert problems[0].endswith("but missing from configuration.md")


def test_a_row_no_code_reads_is_named() -> None:
    page = PAGE.read_text().replace(
        "## Profile\n\n| Variable | Default | Meaning |\n| --- | --- | --- |\n",
        "## Profile\n\n| Variable | Default | Meaning |\n| --- | --- | --- |\n"
        "| `PROFILE_CACHE_MB` | 64 | not a real variable |\n",
    )
    assert drift(page) == ["PROFILE_CACHE_MB is on configuration.md but no code reads it"]
