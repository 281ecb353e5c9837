"""One strict, typed schema for every configuration file: the agreement, the daemon's, the hub's.

Each file is a set of TOML tables, and each table is a pydantic model that refuses unknown keys
and converts nothing (TOML already has the right types, so ``"false"`` is text, never a boolean).
The tables are checked one by one, so that every problem in the file is reported at once, each
as one plain line that starts with its key path (``[schedule] evry: unknown key (did you mean
'every'?)``): the person fixing the file is practice or commissioner IT, not a programmer, and
should fix it in one go. A misspelt key or table gets the nearest known name as a hint.
"""

from __future__ import annotations

import difflib
import re
import types
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    RootModel,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    create_model,
)

# Text that must say something: surrounding spaces are dropped, and nothing left is an error.
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
_ODS = re.compile(r"^[A-Z0-9]{3,10}$")


def _as_ods(value: str) -> str:
    """An ODS code as releases carry it: without surrounding spaces, upper-cased."""
    return value.strip().upper()


def _ods_code(value: str) -> str:
    """An organisation's ODS code, upper-cased: 3 to 10 letters and digits."""
    code = _as_ods(value)
    if not _ODS.match(code):
        raise ValueError(f"{value!r} is not an ODS code (3 to 10 letters and digits, e.g. Y00001)")
    return code


# An ODS code in quotes: ``ods = 12345`` is refused as a number, never read as "12345".
OdsCode = Annotated[str, AfterValidator(_ods_code)]


def distinct_ods_keys(table: Any) -> Any:
    """A table keyed by ODS code, refused when two keys are one code once upper-cased (``y00011``
    and ``Y00011``): read as written, one would silently replace the other."""
    if isinstance(table, dict):
        seen: dict[str, str] = {}
        for key in table:
            code = _as_ods(key) if isinstance(key, str) else key
            if code in seen:
                raise ValueError(f"{seen[code]!r} and {key!r} are the same ODS code: keep one")
            seen[code] = key
    return table


class StrictTable(BaseModel):
    """A TOML table: nothing unknown, nothing converted, nothing changed once read."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def did_you_mean(word: str, options: Iterable[str]) -> str:
    """The nearest known name, as a hint; empty when nothing is near."""
    close = difflib.get_close_matches(word, list(options), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def keys_of(model: type[BaseModel]) -> list[str]:
    """The keys a table accepts, as written in the file (none named for a free-form table)."""
    if issubclass(model, RootModel):
        return []
    return [info.alias or name for name, info in model.model_fields.items()]


def table_of_keys(
    name: str, keys: Iterable[str], annotation: Any, **constraints: Any
) -> type[StrictTable]:
    """A table whose keys are a fixed set of names (often hyphenated, so written as aliases),
    each optional and of one type: prices per kind, a sentence per need domain."""
    fields: dict[str, Any] = {
        key.replace("-", "_"): (annotation | None, Field(None, alias=key, **constraints))
        for key in keys
    }
    return create_model(name, __base__=StrictTable, **fields)


def problem_lines(problems: Iterable[str]) -> str:
    """The problems as the indented list every configuration error shows."""
    return "\n".join(f"  - {problem}" for problem in problems)


# What a value of each kind must look like, by pydantic's error type.
EXPECTED = {
    "bool_type": "must be true or false, without quotes",
    "int_type": "must be a whole number, without quotes",
    "float_type": "must be a number, without quotes",
    "string_type": "must be text in double quotes",
    "date_type": "must be a TOML date such as 2026-04-01, without quotes or a time",
    "list_type": "must be a list in square brackets",
    "tuple_type": "must be a list in square brackets",
    "dict_type": "must be a table, e.g. {KEY = VALUE} or a [section] of its own",
    "model_type": "must be a table, e.g. {KEY = VALUE} or a [section] of its own",
    "model_attributes_type": "must be a table, e.g. {KEY = VALUE} or a [section] of its own",
    "missing": "is required",
}


@dataclass(frozen=True)
class FileSchema:
    """The tables one kind of configuration file may hold, and how to check a parsed file.

    ``optional`` tables are left out of the result when absent (absence means something, e.g.
    no secure aggregation); the others are checked as empty tables, so a missing table with a
    required key is named by that key. ``arrays`` are written ``[[name]]``, a list of tables;
    an entry is named by its ``name`` key when it has one, else by its position.
    """

    tables: Mapping[str, type[BaseModel]]
    optional: frozenset[str] = frozenset()
    arrays: frozenset[str] = frozenset()
    # The type words of messages a file's values may need beyond EXPECTED (e.g. "of pounds").
    expected: Mapping[str, str] = field(default_factory=dict)
    # Keys whose values are never shown in a message (secrets, even when of the wrong type).
    hidden: frozenset[str] = frozenset()

    def check(
        self, data: Mapping[str, Any], base: Path | None = None
    ) -> tuple[dict[str, Any], list[str]]:
        """Every table that passed its model (arrays: a list of the entries that did), and
        every problem found, in the order of the file's tables; nothing stops at the first.
        ``base``: the file's folder, which relative paths are relative to."""
        problems = self.unknown_tables(data)
        context = {"base": base}
        tables: dict[str, Any] = {}
        for name, model in self.tables.items():
            if name in self.optional and name not in data:
                continue
            if name in self.arrays:
                tables[name] = self._array(name, model, data.get(name, []), context, problems)
                continue
            raw = data.get(name, {})
            table = self._table(name, model, raw, f"[{name}]", context, problems)
            if table is not None:
                tables[name] = table
        return tables, problems

    def _table(
        self,
        name: str,
        model: type[BaseModel],
        raw: Any,
        label: str,
        context: dict[str, Any],
        problems: list[str],
    ) -> Any:
        """One table checked against its model; None (with its problems added) when it fails."""
        if not isinstance(raw, dict):
            problems.append(
                f"{label}: must be a table, written [{name}] on a line of its own "
                f"(found {raw!r:.60})"
            )
            return None
        try:
            return model.model_validate(raw, context=context)
        except ValidationError as invalid:
            problems.extend(self.explain(name, label, error) for error in invalid.errors())
            return None

    def _array(
        self,
        name: str,
        model: type[BaseModel],
        raw: Any,
        context: dict[str, Any],
        problems: list[str],
    ) -> list:
        """A ``[[name]]`` list of tables: the entries that passed (each failed one named)."""
        if not isinstance(raw, list):
            problems.append(
                f"[[{name}]]: must be a list of tables, each written [[{name}]] on a line of its "
                f"own (found {raw!r:.60})"
            )
            return []
        entries = (
            self._table(name, model, entry, _entry_label(name, entry, i), context, problems)
            for i, entry in enumerate(raw)
        )
        return [entry for entry in entries if entry is not None]

    def unknown_tables(self, data: Mapping[str, Any]) -> list[str]:
        """Top-level names that are no table of the file: a misspelt table, or a key outside
        any table (a key written before the first [table] line)."""
        problems = []
        for name, value in data.items():
            if name in self.tables:
                continue
            if _is_table(value):
                close = difflib.get_close_matches(name, list(self.tables), n=1)
                known = f"; known: {', '.join(self.tables)}"
                hint = f" (did you mean [{close[0]}]?)" if close else known
                problems.append(f"[{name}]: unknown table{hint}")
            else:
                problems.append(f"{name}: {self.unknown_key(name, None)}")
        return problems

    def unknown_key(self, key: str, table: str | None, model: type[BaseModel] | None = None) -> str:
        """Why ``key`` is unknown in ``table`` (None: at the top level; ``model``: a table nested
        in it), with the likeliest fix: the table it belongs in, or the nearest known key."""
        where = "here" if table else "outside any table"
        if model is None or (table and model is self.tables[table]):
            homes = [
                name for name, other in self.tables.items()
                if name != table and key in keys_of(other)
            ]  # fmt: skip
            if homes:
                return f"unknown key {where}; it belongs in [{homes[0]}]"
        if table:
            known = keys_of(model or self.tables[table])
            return "unknown key" + (did_you_mean(key, known) or f"; known here: {', '.join(known)}")
        home_of = {key: name for name, other in self.tables.items() for key in keys_of(other)}
        close = difflib.get_close_matches(key, list(home_of), n=1)
        return f"unknown key {where}" + (
            f" (did you mean [{home_of[close[0]]}] {close[0]}?)" if close else ""
        )

    def explain(self, table: str, label: str, error: Any) -> str:
        """One plain line for one pydantic error: the key path, what is wrong, what was found."""
        loc = tuple(part for part in error["loc"] if part != "[key]")
        path = label + key_path(loc)
        kind, found = error["type"], error.get("input")
        ctx = error.get("ctx") or {}
        if kind == "extra_forbidden":
            owner = model_at(self.tables[table], loc[:-1])
            return f"{path}: {self.unknown_key(str(loc[-1]), table, owner)}"
        if kind == "missing":
            owner = model_at(self.tables[table], loc[:-1])
            info = owner.model_fields.get(str(loc[-1])) if owner else None
            about = info.description if info else None
            return f"{path}: is required" + (f": {about}" if about else "")
        if kind in ("value_error", "assertion_error"):
            return f"{path}: {ctx['error']}"
        if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
            what = _bound(ctx)
        elif kind == "literal_error":
            what = f"must be {ctx['expected']}"
        elif kind in ("string_too_short", "too_short"):
            what = "must not be empty"
        else:
            expected = {**EXPECTED, **self.expected}
            what = expected.get(kind, error["msg"][0].lower() + error["msg"][1:])
        if self.hidden.intersection(part for part in loc if isinstance(part, str)):
            return f"{path}: {what} (the value is not shown here)"
        return f"{path}: {what} (found {found!r:.60})"


def _is_table(value: Any) -> bool:
    """A TOML table, or an array of tables (``[[name]]``)."""
    if isinstance(value, list):
        return bool(value) and all(isinstance(item, dict) for item in value)
    return isinstance(value, dict)


def key_path(loc: Iterable[Any]) -> str:
    """``("auth", "type")`` -> `` auth.type``; ``("allowed", 0)`` -> `` allowed[0]``."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f"{'.' if text else ' '}{part}"
    return text


def _bound(ctx: Mapping[str, Any]) -> str:
    """The limit a number broke, as the file would write it."""
    words = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}
    return " and ".join(f"must be {words[key]} {ctx[key]:g}" for key in words if key in ctx)


def _entry_label(name: str, entry: Any, index: int) -> str:
    """How a message names one ``[[name]]`` entry: by its name key, else by its position."""
    given = entry.get("name") if isinstance(entry, dict) else None
    return f"[[{name}]] {given if isinstance(given, str) and given.strip() else index + 1}"


def model_at(model: type[BaseModel] | None, loc: Iterable[Any]) -> type[BaseModel] | None:
    """The table model reached by following ``loc`` (keys of nested tables) down from
    ``model``; None when the path leaves the models (a list's item, a free-form table)."""
    for part in loc:
        if model is None or not isinstance(part, str) or part not in _fields_by_key(model):
            return None
        model = _table_model(_fields_by_key(model)[part])
    return model


def _fields_by_key(model: type[BaseModel]) -> dict[str, Any]:
    """A model's field annotations by the key written in the file."""
    return {info.alias or name: info.annotation for name, info in model.model_fields.items()}


def _table_model(annotation: Any) -> type[BaseModel] | None:
    """The model inside an annotation such as ``AuthTable`` or ``AuthTable | None``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) in (Union, types.UnionType):
        models = [found for arg in get_args(annotation) if (found := _table_model(arg))]
        return models[0] if len(models) == 1 else None
    return None


def check_names(chosen: list[str], known: Iterable[str]) -> list[str]:
    """Every name in ``chosen`` is one of ``known``, once (an error lists all that are not);
    for a list-valued key whose items come from a fixed set."""
    known = tuple(known)
    unknown = [f"{name!r}{did_you_mean(name, known)}" for name in chosen if name not in known]
    twice = sorted({name for name in chosen if chosen.count(name) > 1})
    if unknown:
        raise ValueError(f"unknown {', '.join(unknown)}; known: {', '.join(known)}")
    if twice:
        raise ValueError(f"lists {', '.join(map(repr, twice))} more than once")
    return chosen


# -- paths, relative to the configuration file --------------------------------------------------
def _resolved(value: Any, info: ValidationInfo) -> Path:
    """A path written in the file, made absolute against the file's folder (the ``base`` of
    the validation context): the service's working directory is nobody's business."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"must be a path in double quotes (found {value!r:.60})")
    path = Path(value).expanduser()
    base = (info.context or {}).get("base")
    return path if path.is_absolute() or base is None else (base / path).resolve()


def _existing_file(path: Path) -> Path:
    if not path.is_file():
        raise ValueError(f"the file {path} does not exist")
    return path


def _existing_dir(path: Path) -> Path:
    if not path.is_dir():
        raise ValueError(f"the directory {path} does not exist (or is not a directory)")
    return path


# A path in quotes, relative to the configuration file; one that must exist already.
LocalPath = Annotated[Path, BeforeValidator(_resolved)]
ExistingFile = Annotated[LocalPath, AfterValidator(_existing_file)]
ExistingDir = Annotated[LocalPath, AfterValidator(_existing_dir)]
