"""OpenWhisk runtime manifest: typed models, a strict loader and the ``RUNTIMES_MANIFEST`` renderer.

The manifest JSON (upstream ``ansible/files/runtimes.json`` shape) is the source of truth. The models
use the upstream camelCase field names, so a manifest loads and renders back to the same JSON.
The controller, the invoker and the scheduler each parse it and exit on an invalid one, so
``load_manifest`` checks it up front and reports every problem at once, one line each, in the form
``<file>: <json path>: <what is wrong> (got <value>); <how to fix it>``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

DEFAULT_MANIFEST = Path(__file__).with_name("default.json")
"""The manifest shipped with this package (pinned 2.0.0 runtime images)."""

MUTABLE_TAGS = frozenset({"latest", "nightly"})
ALLOW_MUTABLE_SETTING = "openwhisk:version.allow_mutable_tags: true"
HEALTH_FAMILY = "nodejs"
_HEALTH_NOTE = (
    f"the invoker health action runs on {HEALTH_FAMILY}:default, so without it the invoker never becomes "
    "healthy and every invoke fails"
)

_TAG = re.compile(r"[\w][\w.-]{0,127}(@[A-Za-z][A-Za-z0-9]*([-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?")
_SIZE = re.compile(r"(?i)\s?(\d+)\s?(GB|MB|KB|B|G|M|K)\s?")  # upstream ByteSize.fromString
_SIZE_BYTES = {"B": 1, "K": 1024, "M": 1024**2, "G": 1024**3}
_DURATION = re.compile(
    r"\s*(\d+(\.\d+)?)\s*(d|days?|h|hrs?|hours?|m|mins?|minutes?|s|secs?|seconds?|ms|millis?|milliseconds?"
    r"|µs|micros?|microseconds?|ns|nanos?|nanoseconds?)\s*"
)


def _invalid(what: str, fix: str, got: str | None = None) -> PydanticCustomError:
    """A validation error in our ``what (got ...); fix`` style; ``got`` replaces the shown input."""
    return PydanticCustomError("manifest", "{what}; {fix}", {"what": what, "fix": fix, "got": got})


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ImageName(_Model):
    """A container image, resolved as ``[registry/][prefix/]name[:tag]``."""

    prefix: str | None = None
    name: str = Field(min_length=1)
    tag: str | None = None
    registry: str | None = None

    @field_validator("tag")
    @classmethod
    def _tag_syntax(cls, tag: str | None) -> str | None:
        if tag and not _TAG.fullmatch(tag):
            raise _invalid("not a docker tag", "use a tag like '1.22.0', optionally followed by '@sha256:<hex>'")
        return tag


class Attachment(_Model):
    """How action code is stored: as a CouchDB attachment (``codefile``, ``text/plain``)."""

    attachmentName: str
    attachmentType: str


class Reactive(_Model):
    """Reactive prewarming: grow the stem cells of a kind under cold-start load."""

    minCount: int = Field(ge=0)
    maxCount: int = Field(ge=1)
    ttl: str
    threshold: int = Field(ge=1)
    increment: int = Field(ge=1)

    @field_validator("ttl")
    @classmethod
    def _ttl_syntax(cls, ttl: str) -> str:
        match = _DURATION.fullmatch(ttl)
        if not match or float(match.group(1)) <= 0:
            raise _invalid("not a positive duration", "use a duration like '2 minutes' or '90 seconds'")
        return ttl

    @model_validator(mode="after")
    def _counts(self) -> Reactive:
        if not self.minCount <= self.maxCount or self.increment > self.maxCount:
            raise _invalid(
                "minCount and increment must not exceed maxCount",
                "raise maxCount or lower minCount and increment",
                f"minCount {self.minCount}, maxCount {self.maxCount}, increment {self.increment}",
            )
        return self


class StemCell(_Model):
    """Prewarmed containers the invoker starts at boot: ``initialCount`` of ``memory`` each."""

    initialCount: int = Field(ge=1, validation_alias=AliasChoices("initialCount", "count"))
    memory: str
    reactive: Reactive | None = None

    @field_validator("memory")
    @classmethod
    def _memory_syntax(cls, memory: str) -> str:
        if _memory_bytes(memory) is None:
            raise _invalid("not a positive size in whole MB", "use a size like '256 MB' or '1 GB'")
        return memory

    @property
    def memory_mb(self) -> int:
        """Memory per stem cell container, in MB."""
        return _memory_bytes(self.memory) // 1024**2


def _memory_bytes(memory: str) -> int | None:
    """Bytes in an upstream size string ('256 MB'), or None when malformed, zero or not whole MB."""
    match = _SIZE.fullmatch(memory)
    if not match:
        return None
    size = int(match.group(1)) * _SIZE_BYTES[match.group(2)[0].upper()]
    return size if size > 0 and size % 1024**2 == 0 else None


class RuntimeKind(_Model):
    """One action kind of a runtime family, e.g. ``nodejs:20``."""

    kind: str = Field(min_length=1)
    image: ImageName
    default: bool | None = None
    deprecated: bool | None = None
    attached: Attachment | None = None
    requireMain: bool | None = None
    sentinelledLogs: bool | None = None
    stemCells: list[StemCell] | None = None


class Manifest(_Model):
    """A whole runtime manifest: kinds per family plus the blackbox (docker skeleton) images."""

    runtimes: dict[str, list[RuntimeKind]]
    blackboxes: list[ImageName] = []
    description: list[str] | str | None = None

    @field_validator("description", mode="before")
    @classmethod
    def _description_text(cls, value: Any) -> Any:
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, list) and all(isinstance(line, str) for line in value):
            return value
        raise _invalid("expected a string or a list of strings", "fix the value")

    def default_kind(self, family: str) -> RuntimeKind:
        """The default kind of a family (``<family>:default``); KeyError when the family is absent."""
        kinds = self.runtimes[family]
        return next((k for k in kinds if k.default), kinds[0])


class ManifestError(ValueError):
    """An invalid runtime manifest; ``problems`` holds one line per problem."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = list(problems)


# ---------------------------------------------------------------------------------------------
# Loading


def load_manifest(path: str | Path, *, allow_mutable_tags: bool = False) -> Manifest:
    """Load and check a runtime manifest; raise ManifestError listing every problem."""
    where = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise ManifestError([f"{where}: cannot read the file: {err.strerror.lower()} (got '{where}'); "
                             f"set runtimes.manifest to a manifest file relative to the project "
                             f"directory, e.g. runtimes/default.json"]) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise ManifestError(
            [f"{where}: line {err.lineno} column {err.colno}: not valid JSON ({err.msg}); fix the syntax"]
        ) from None

    problems: list[str] = []
    manifest = None
    try:
        manifest = Manifest.model_validate(data, strict=True)
    except ValidationError as err:
        problems += [f"{where}: {_schema_problem(e)}" for e in err.errors()]
    if isinstance(data, dict):
        problems += [f"{where}: {p}" for p in _rule_problems(data, allow_mutable_tags)]
    if problems or manifest is None:
        raise ManifestError(problems)
    return manifest


_EXPECTED = {
    "string_type": "a string",
    "int_type": "an integer",
    "bool_type": "true or false",
    "list_type": "a list",
    "dict_type": "an object",
    "model_type": "an object",
}


def _schema_problem(err: Any) -> str:
    """One pydantic error as ``<json path>: <what> (got <value>); <fix>``."""
    loc = _json_path(err["loc"]) or "top level"
    kind, got, ctx = err["type"], _show(err["input"]), err.get("ctx") or {}
    if kind == "extra_forbidden":
        return f"{loc}: unknown field (got {got}); remove it or fix the spelling"
    if kind == "missing":
        return f"{loc}: required field is missing; add it"
    if kind in _EXPECTED:
        return f"{loc}: expected {_EXPECTED[kind]} (got {got}); fix the value"
    if kind == "greater_than_equal":
        return f"{loc}: must be at least {ctx['ge']} (got {got}); raise it"
    if kind == "string_too_short":
        return f"{loc}: must not be empty (got {got}); set a value"
    if kind == "manifest":
        return f"{loc}: {ctx['what']} (got {ctx['got'] or got}); {ctx['fix']}"
    return f"{loc}: {err['msg']} (got {got}); fix the value"


def _json_path(loc: tuple[Any, ...]) -> str:
    """('runtimes', 'nodejs', 0, 'image') -> 'runtimes.nodejs[0].image'."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}" if out else str(part)
    return out


def _show(value: Any) -> str:
    """A short display of a JSON value: strings quoted, others as JSON."""
    text = repr(value) if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return text if len(text) <= 60 else text[:57] + "..."


def _rule_problems(data: dict[str, Any], allow_mutable_tags: bool) -> list[str]:
    """Checks across kinds and families, on the raw JSON so they run even when the schema fails."""
    problems: list[str] = []
    runtimes = data.get("runtimes")
    if isinstance(runtimes, dict):
        families = [(f, kinds) for f, kinds in runtimes.items() if isinstance(kinds, list)]
        if not runtimes.get(HEALTH_FAMILY):
            found = ", ".join(repr(f) for f in runtimes) or "none"
            problems.append(
                f"runtimes.{HEALTH_FAMILY}: no {HEALTH_FAMILY} family with a default kind (got families: {found}); "
                f"add one: {_HEALTH_NOTE}"
            )
        seen: dict[str, str] = {}
        for family, kinds in families:
            problems += _family_problems(family, kinds, seen, allow_mutable_tags)
    blackboxes = data.get("blackboxes")
    if isinstance(blackboxes, list):
        for i, image in enumerate(blackboxes):
            if isinstance(image, dict):
                label = f"blackbox {_key(image)}" if isinstance(image.get("name"), str) else "blackbox"
                problems += _tag_problems(f"blackboxes[{i}].tag", label, image, allow_mutable_tags)
    return problems


def _family_problems(family: str, kinds: list[Any], seen: dict[str, str], allow_mutable: bool) -> list[str]:
    """Default, naming, uniqueness and tag problems of one family; ``seen`` maps kind to first path."""
    path = f"runtimes.{family}"
    entries = [(f"{path}[{i}]", k) for i, k in enumerate(kinds) if isinstance(k, dict)]
    names = [k["kind"] if isinstance(k.get("kind"), str) else p for p, k in entries]
    defaults = [n for n, (_, k) in zip(names, entries) if k.get("default") is True]
    problems: list[str] = []
    if not kinds and family != HEALTH_FAMILY:
        problems.append(f"{path}: family has no kinds (got []); add a kind or remove the family")
    elif len(defaults) > 1:
        problems.append(
            f"{path}: more than one default kind (got {_names(defaults)}); "
            'keep "default": true on exactly one of them'
        )
    elif not defaults and len(kinds) > 1:
        note = f"; {_HEALTH_NOTE}" if family == HEALTH_FAMILY else ""
        problems.append(
            f"{path}: several kinds but no default (got {_names(names)}); "
            f'set "default": true on exactly one of them{note}'
        )
    for (kind_path, entry), name in zip(entries, names):
        kind = entry.get("kind")
        if isinstance(kind, str) and kind:
            if kind.split(":", 1)[0] != family:
                problems.append(
                    f"{kind_path}.kind: kind does not start with its family name '{family}:' (got {kind!r}); "
                    f"rename it to '{family}:<version>' or move it to the '{kind.split(':', 1)[0]}' family"
                )
            if kind in seen:
                problems.append(
                    f"{kind_path}.kind: kind is already defined at {seen[kind]} (got {kind!r}); "
                    "give every kind a unique name"
                )
            seen.setdefault(kind, kind_path)
        image = entry.get("image")
        if isinstance(image, dict):
            problems += _tag_problems(f"{kind_path}.image.tag", str(name), image, allow_mutable)
    return problems


def _tag_problems(path: str, label: str, image: dict[str, Any], allow_mutable: bool) -> list[str]:
    """A problem line when an image tag is missing, empty, 'latest' or 'nightly'."""
    tag = image.get("tag")
    if allow_mutable or not (tag is None or isinstance(tag, str)):  # a wrong type is a schema error
        return []
    if tag and tag not in MUTABLE_TAGS:
        return []
    got = "no tag" if tag is None else repr(tag)
    return [
        f"{path}: {label} image tag is not pinned (got {got}); pin a release tag or a digest "
        f"(e.g. '1.22.0' or '1.22.0@sha256:<hex>'), or allow mutable tags with the stack setting "
        f"{ALLOW_MUTABLE_SETTING}"
    ]


def _names(names: list[str]) -> str:
    return ", ".join(repr(n) for n in names)


def _key(image: dict[str, Any] | ImageName) -> str:
    """The override key of a blackbox image: 'prefix/name', or 'name' without a prefix."""
    fields = image if isinstance(image, dict) else image.model_dump()
    prefix, name = fields.get("prefix"), fields.get("name")
    return f"{prefix}/{name}" if prefix else str(name)


# ---------------------------------------------------------------------------------------------
# Using a loaded manifest


def image_ref(img: ImageName) -> str:
    """The docker reference ``[registry/][prefix/]name[:tag]`` (upstream ``resolveImageName``)."""
    registry = (img.registry or "").rstrip("/")
    parts = [p for p in (registry, img.prefix, img.name) if p]
    return "/".join(parts) + (f":{img.tag}" if img.tag else "")


def images(manifest: Manifest, *, image_overrides: dict[str, ImageName] | None = None) -> list[ImageName]:
    """Every kind and blackbox image (after overrides), deduplicated, in manifest order."""
    resolved = _apply_overrides(manifest, image_overrides or {})
    found = [k.image for kinds in resolved.runtimes.values() for k in kinds] + list(resolved.blackboxes)
    return list(dict.fromkeys(found))


def stem_cell_memory_mb(manifest: Manifest) -> int:
    """MB the invoker reserves at boot for stem cells of non-deprecated kinds."""
    return sum(
        cell.initialCount * cell.memory_mb
        for kinds in manifest.runtimes.values()
        for kind in kinds
        if not kind.deprecated
        for cell in kind.stemCells or []
    )


def render(manifest: Manifest, *, image_overrides: dict[str, ImageName] | None = None) -> str:
    """The compact, deterministic JSON for the ``RUNTIMES_MANIFEST`` env var.

    ``image_overrides`` replaces images by key: a kind (``"nodejs:20"``) for a runtime kind, or
    ``"prefix/name"`` (just ``"name"`` without a prefix, e.g. ``"openwhisk/dockerskeleton"``) for a
    blackbox. Unknown keys raise ManifestError. Note that a blackbox is matched by its full image
    name, so users must create docker actions with the overridden image for it to count as native.
    """
    resolved = _apply_overrides(manifest, image_overrides or {})
    data = resolved.model_dump(mode="json", by_alias=True, exclude_none=True)
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _apply_overrides(manifest: Manifest, overrides: dict[str, ImageName]) -> Manifest:
    """A copy of the manifest with images replaced per ``overrides`` (see ``render``)."""
    kinds = [k.kind for ks in manifest.runtimes.values() for k in ks]
    keys = kinds + [_key(b) for b in manifest.blackboxes]
    unknown = [key for key in overrides if key not in keys]
    if unknown:
        raise ManifestError(
            [
                f"image_overrides[{key!r}]: no runtime kind or blackbox has this key (got {key!r}); "
                f"use one of {_names(keys)}"
                for key in unknown
            ]
        )
    if not overrides:
        return manifest
    runtimes = {
        family: [k.model_copy(update={"image": overrides.get(k.kind, k.image)}) for k in ks]
        for family, ks in manifest.runtimes.items()
    }
    blackboxes = [overrides.get(_key(b), b) for b in manifest.blackboxes]
    return manifest.model_copy(update={"runtimes": runtimes, "blackboxes": blackboxes})
