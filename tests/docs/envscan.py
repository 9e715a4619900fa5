"""Find every environment variable the code reads, from its syntax tree.

The programs read settings through ``telemetry.config``'s ``env_*`` functions
(``env_str(environ, "PORT", ...)``). This module finds those calls in the
source (without importing it), resolves the variable name when it is a literal
or a module-level string constant (also one imported from another module of
ours), and also reports the reads that bypass ``telemetry.config``:
``os.environ[...]``, ``os.environ.get(...)``, ``os.getenv(...)``, and Click
options with ``envvar=``. A read whose name cannot be resolved statically is
reported as unresolved, so nothing slips past the comparison with
``docs/reference/configuration.md``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

#: The settings readers of telemetry.config; the variable is the second argument.
READERS = frozenset({"env_str", "env_int", "env_float", "env_bool", "env_choice", "env_host"})
#: The module that implements the readers: its own ``environ.get(name)`` is not a read.
READER_MODULE = "telemetry.config"


@dataclass(frozen=True)
class Read:
    """One place the code reads an environment variable."""

    variable: str | None  # None: the name could not be resolved statically
    module: str
    path: str
    line: int
    how: str

    def where(self) -> str:
        """Return ``path:line (how)`` for messages."""
        return f"{self.path}:{self.line} ({self.how})"


def module_name(root: Path, path: Path) -> str:
    """Return the dotted module name of a source file under ``root``."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_files(root: Path, packages: Iterable[str]) -> Iterator[Path]:
    """Yield the Python files of the given top-level packages."""
    for package in packages:
        folder = root / package
        if folder.is_dir():
            yield from sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


class Scanner:
    """Parses a set of modules once and answers what each reads and imports."""

    def __init__(self, root: Path, packages: Iterable[str]) -> None:
        self.root = root
        self.packages = tuple(packages)
        self.trees: dict[str, tuple[Path, ast.Module]] = {}
        for path in source_files(root, self.packages):
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            self.trees[module_name(root, path)] = (path, tree)
        self.constants = {name: self._constants(tree) for name, (_, tree) in self.trees.items()}

    # --- names ----------------------------------------------------------------

    @staticmethod
    def _constants(tree: ast.Module) -> dict[str, str]:
        """Return the module-level ``NAME = "string"`` assignments."""
        found: dict[str, str] = {}
        for node in tree.body:
            targets: list[ast.expr] = []
            if isinstance(node, ast.Assign):
                targets = node.targets
            elif isinstance(node, ast.AnnAssign) and node.value is not None:
                targets = [node.target]
            value = getattr(node, "value", None)
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                for target in targets:
                    if isinstance(target, ast.Name):
                        found[target.id] = value.value
        return found

    def _imports(self, module: str) -> dict[str, str]:
        """Map local names to what they import: ``module`` or ``module:NAME``."""
        path, tree = self.trees[module]
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        names: dict[str, str] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    names[alias.asname or alias.name.split(".")[0]] = (
                        alias.name if alias.asname else alias.name.split(".")[0]
                    )
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parent = package.split(".")
                    parent = parent[: len(parent) - node.level + 1]
                    base = ".".join([*parent, base] if base else parent)
                for alias in node.names:
                    submodule = f"{base}.{alias.name}"
                    target = submodule if submodule in self.trees else f"{base}:{alias.name}"
                    names[alias.asname or alias.name] = target
        return names

    def _resolve(self, module: str, node: ast.expr, imports: dict[str, str]) -> str | None:
        """Return the string a name expression stands for, when it can be known."""
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        if isinstance(node, ast.Name):
            if node.id in self.constants[module]:
                return self.constants[module][node.id]
            target = imports.get(node.id, "")
            owner, _, name = target.partition(":")
            return self.constants.get(owner, {}).get(name) if name else None
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            owner = imports.get(node.value.id, "")
            return self.constants.get(owner, {}).get(node.attr)
        return None

    # --- reads ----------------------------------------------------------------

    def reads(self, module: str) -> list[Read]:
        """Return every environment read in one module."""
        path, tree = self.trees[module]
        shown = path.relative_to(self.root).as_posix()
        imports = self._imports(module)
        found: list[Read] = []

        def add(node: ast.AST, expr: ast.expr | None, how: str) -> None:
            variable = None if expr is None else self._resolve(module, expr, imports)
            found.append(Read(variable, module, shown, node.lineno, how))

        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                func = node.func
                name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
                if name in READERS and module != READER_MODULE:
                    expr = node.args[1] if len(node.args) > 1 else None
                    expr = next((k.value for k in node.keywords if k.arg == "name"), expr)
                    add(node, expr, name)
                elif _is_os_environ_get(func, imports) or _is_getenv(func, imports):
                    add(node, node.args[0] if node.args else None, ast.unparse(func))
                for keyword in node.keywords:
                    if keyword.arg == "envvar":
                        values = (
                            keyword.value.elts
                            if isinstance(keyword.value, ast.List | ast.Tuple)
                            else [keyword.value]
                        )
                        for value in values:
                            add(node, value, "click envvar")
            elif (
                isinstance(node, ast.Subscript)
                and isinstance(node.ctx, ast.Load)
                and _is_os_environ(node.value, imports)
            ):
                add(node, node.slice, "os.environ[...]")
        return found

    def all_reads(self) -> list[Read]:
        """Return every environment read in every scanned module."""
        return [read for module in self.trees for read in self.reads(module)]

    # --- programs -------------------------------------------------------------

    def closure(self, entry: str) -> set[str]:
        """Return the modules of ours an entry module imports, directly or not."""
        seen: set[str] = set()
        pending = [entry]
        while pending:
            module = pending.pop()
            if module in seen or module not in self.trees:
                continue
            seen.add(module)
            # A submodule import runs its packages' __init__ too.
            parts = module.split(".")
            pending += [".".join(parts[:i]) for i in range(1, len(parts))]
            for target in self._imports(module).values():
                pending.append(target.partition(":")[0])
        return seen


def _is_os_environ(node: ast.expr, imports: dict[str, str]) -> bool:
    """``os.environ``, or ``environ`` imported from ``os``."""
    if isinstance(node, ast.Name):
        return imports.get(node.id) == "os:environ"
    return (
        isinstance(node, ast.Attribute)
        and node.attr == "environ"
        and isinstance(node.value, ast.Name)
        and imports.get(node.value.id, node.value.id) == "os"
    )


def _is_os_environ_get(func: ast.expr, imports: dict[str, str]) -> bool:
    return (
        isinstance(func, ast.Attribute)
        and func.attr == "get"
        and _is_os_environ(func.value, imports)
    )


def _is_getenv(func: ast.expr, imports: dict[str, str]) -> bool:
    if isinstance(func, ast.Name):
        return imports.get(func.id) == "os:getenv"
    return (
        isinstance(func, ast.Attribute)
        and func.attr == "getenv"
        and isinstance(func.value, ast.Name)
        and imports.get(func.value.id, func.value.id) == "os"
    )
