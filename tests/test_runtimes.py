"""Tests for the runtime manifest package: loading rules, exact problem messages, images and rendering."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from runtimes import (
    DEFAULT_MANIFEST,
    ImageName,
    ManifestError,
    StemCell,
    image_ref,
    images,
    load_manifest,
    render,
    stem_cell_memory_mb,
)

BASE = json.loads(DEFAULT_MANIFEST.read_text())
PIN_FIX = (
    "pin a release tag or a digest (e.g. '1.22.0' or '1.22.0@sha256:<hex>'), "
    "or allow mutable tags with the stack setting openwhisk:version.allow_mutable_tags: true"
)
HEALTH = (
    "the invoker health action runs on nodejs:default, so without it the invoker never becomes healthy "
    "and every invoke fails"
)
DIGEST = "1.22.0@sha256:" + "ab" * 32


def write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "runtimes.json"
    path.write_text(json.dumps(data))
    return path


def variant(change) -> dict:
    data = copy.deepcopy(BASE)
    change(data)
    return data


def nodejs(data: dict, i: int) -> dict:
    return data["runtimes"]["nodejs"][i]


def problems_of(path: Path, **kwargs) -> list[str]:
    with pytest.raises(ManifestError) as info:
        load_manifest(path, **kwargs)
    assert str(info.value) == "\n".join(info.value.problems)
    return info.value.problems


# -- the shipped manifest ----------------------------------------------------------------------


def test_default_manifest_loads_with_nodejs20_default():
    manifest = load_manifest(DEFAULT_MANIFEST)
    assert manifest.default_kind("nodejs").kind == "nodejs:20"
    assert manifest.default_kind("python").kind == "python:3.11"
    assert all(k.deprecated is False for ks in manifest.runtimes.values() for k in ks)


def test_default_manifest_images_are_exact():
    assert [image_ref(i) for i in images(load_manifest(DEFAULT_MANIFEST))] == [
        "openwhisk/action-nodejs-v18:1.22.0",
        "openwhisk/action-nodejs-v20:1.22.0",
        "openwhisk/action-python-v3.10:1.19.0",
        "openwhisk/action-python-v3.11:1.19.0",
        "openwhisk/dockerskeleton:1.15.0",
    ]


def test_default_manifest_stem_cell_memory():
    assert stem_cell_memory_mb(load_manifest(DEFAULT_MANIFEST)) == 512


def test_default_manifest_never_uses_mutable_tags():
    assert all(i.tag and i.tag not in {"latest", "nightly"} for i in images(load_manifest(DEFAULT_MANIFEST)))


# -- valid variants ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda d: d["runtimes"].pop("python"), id="nodejs-only"),
        pytest.param(lambda d: d["runtimes"]["nodejs"].pop(1), id="single-kind-implicit-default"),
        pytest.param(lambda d: nodejs(d, 1)["image"].update(tag=DIGEST), id="digest-tag"),
        pytest.param(lambda d: d.pop("blackboxes"), id="no-blackboxes"),
        pytest.param(lambda d: d.update(description="one line"), id="description-string"),
        pytest.param(lambda d: nodejs(d, 1)["image"].update(registry="reg.example:5000/"), id="registry"),
    ],
)
def test_valid_variants_load(tmp_path, change):
    load_manifest(write(tmp_path, variant(change)))


def test_single_kind_family_is_its_own_default(tmp_path):
    manifest = load_manifest(write(tmp_path, variant(lambda d: d["runtimes"]["nodejs"].pop(1))))
    assert manifest.default_kind("nodejs").kind == "nodejs:18"


def test_count_is_accepted_for_initial_count_and_renders_as_initial_count(tmp_path):
    def change(d):
        cell = nodejs(d, 1)["stemCells"][0]
        cell["count"] = cell.pop("initialCount")

    manifest = load_manifest(write(tmp_path, variant(change)))
    assert manifest.runtimes["nodejs"][1].stemCells == [StemCell(initialCount=2, memory="256 MB")]
    assert json.loads(render(manifest)) == BASE


@pytest.mark.parametrize(
    "tag",
    ["latest", "nightly", None],
)
def test_mutable_tags_allowed_when_asked(tmp_path, tag):
    def change(d):
        nodejs(d, 1)["image"]["tag"] = tag
        d["blackboxes"][0]["tag"] = tag

    load_manifest(write(tmp_path, variant(change)), allow_mutable_tags=True)


# -- every rule, exact message -----------------------------------------------------------------


def _drop_tag(d):
    del nodejs(d, 1)["image"]["tag"]


def _bad_stem_cell(d):
    nodejs(d, 1)["stemCells"][0].update(initialCount=0, memory="512 KB")


def _bad_reactive(d):
    nodejs(d, 1)["stemCells"][0]["reactive"] = {
        "minCount": 5,
        "maxCount": 2,
        "ttl": "2 minutes",
        "threshold": 1,
        "increment": 1,
    }


CASES = [
    (
        "unknown-field",
        lambda d: nodejs(d, 0)["image"].update(tagg="x"),
        "runtimes.nodejs[0].image.tagg: unknown field (got 'x'); remove it or fix the spelling",
    ),
    (
        "wrong-type",
        lambda d: nodejs(d, 0).update(deprecated="no"),
        "runtimes.nodejs[0].deprecated: expected true or false (got 'no'); fix the value",
    ),
    (
        "missing-field",
        lambda d: nodejs(d, 0)["image"].pop("name"),
        "runtimes.nodejs[0].image.name: required field is missing; add it",
    ),
    (
        "family-not-a-list",
        lambda d: d["runtimes"].update(python={"kind": "python:3.11"}),
        "runtimes.python: expected a list (got {\"kind\":\"python:3.11\"}); fix the value",
    ),
    (
        "bad-description",
        lambda d: d.update(description=[1]),
        "description: expected a string or a list of strings (got [1]); fix the value",
    ),
    (
        "bad-tag-syntax",
        lambda d: nodejs(d, 0)["image"].update(tag="sha256:abc"),
        "runtimes.nodejs[0].image.tag: not a docker tag (got 'sha256:abc'); "
        "use a tag like '1.22.0', optionally followed by '@sha256:<hex>'",
    ),
    (
        "bad-ttl",
        lambda d: nodejs(d, 1)["stemCells"][0].update(
            reactive={"minCount": 1, "maxCount": 4, "ttl": "2 fortnights", "threshold": 1, "increment": 1}
        ),
        "runtimes.nodejs[1].stemCells[0].reactive.ttl: not a positive duration (got '2 fortnights'); "
        "use a duration like '2 minutes' or '90 seconds'",
    ),
    (
        "reactive-counts",
        _bad_reactive,
        "runtimes.nodejs[1].stemCells[0].reactive: minCount and increment must not exceed maxCount "
        "(got minCount 5, maxCount 2, increment 1); "
        "raise maxCount or lower minCount and increment",
    ),
    (
        "two-defaults",
        lambda d: nodejs(d, 0).update(default=True),
        "runtimes.nodejs: more than one default kind (got 'nodejs:18', 'nodejs:20'); "
        'keep "default": true on exactly one of them',
    ),
    (
        "no-default",
        lambda d: d["runtimes"]["python"][1].update(default=False),
        "runtimes.python: several kinds but no default (got 'python:3.10', 'python:3.11'); "
        'set "default": true on exactly one of them',
    ),
    (
        "no-nodejs-default",
        lambda d: nodejs(d, 1).pop("default"),
        "runtimes.nodejs: several kinds but no default (got 'nodejs:18', 'nodejs:20'); "
        f'set "default": true on exactly one of them; {HEALTH}',
    ),
    (
        "no-nodejs-family",
        lambda d: d["runtimes"].pop("nodejs"),
        f"runtimes.nodejs: no nodejs family with a default kind (got families: 'python'); add one: {HEALTH}",
    ),
    (
        "empty-nodejs-family",
        lambda d: d["runtimes"].update(nodejs=[]),
        f"runtimes.nodejs: no nodejs family with a default kind (got families: 'nodejs', 'python'); add one: {HEALTH}",
    ),
    (
        "empty-family",
        lambda d: d["runtimes"].update(go=[]),
        "runtimes.go: family has no kinds (got []); add a kind or remove the family",
    ),
    (
        "kind-outside-its-family",
        lambda d: d["runtimes"]["python"][0].update(kind="py:3.10"),
        "runtimes.python[0].kind: kind does not start with its family name 'python:' (got 'py:3.10'); "
        "rename it to 'python:<version>' or move it to the 'py' family",
    ),
    (
        "duplicate-kind",
        lambda d: d["runtimes"]["nodejs"].append(copy.deepcopy(nodejs(d, 0))),
        "runtimes.nodejs[2].kind: kind is already defined at runtimes.nodejs[0] (got 'nodejs:18'); "
        "give every kind a unique name",
    ),
    (
        "nightly-tag",
        lambda d: nodejs(d, 1)["image"].update(tag="nightly"),
        f"runtimes.nodejs[1].image.tag: nodejs:20 image tag is not pinned (got 'nightly'); {PIN_FIX}",
    ),
    (
        "latest-tag",
        lambda d: d["runtimes"]["python"][0]["image"].update(tag="latest"),
        f"runtimes.python[0].image.tag: python:3.10 image tag is not pinned (got 'latest'); {PIN_FIX}",
    ),
    (
        "missing-tag",
        _drop_tag,
        f"runtimes.nodejs[1].image.tag: nodejs:20 image tag is not pinned (got no tag); {PIN_FIX}",
    ),
    (
        "empty-tag",
        lambda d: nodejs(d, 1)["image"].update(tag=""),
        f"runtimes.nodejs[1].image.tag: nodejs:20 image tag is not pinned (got ''); {PIN_FIX}",
    ),
    (
        "blackbox-tag",
        lambda d: d["blackboxes"][0].update(tag="latest"),
        f"blackboxes[0].tag: blackbox openwhisk/dockerskeleton image tag is not pinned (got 'latest'); {PIN_FIX}",
    ),
]


@pytest.mark.parametrize("change, expected", [pytest.param(c, e, id=i) for i, c, e in CASES])
def test_each_rule_rejects_with_exact_message(tmp_path, change, expected):
    path = write(tmp_path, variant(change))
    assert problems_of(path) == [f"{path}: {expected}"]


def test_stem_cell_problems(tmp_path):
    path = write(tmp_path, variant(_bad_stem_cell))
    assert problems_of(path) == [
        f"{path}: runtimes.nodejs[1].stemCells[0].initialCount: must be at least 1 (got 0); raise it",
        f"{path}: runtimes.nodejs[1].stemCells[0].memory: not a positive size in whole MB (got '512 KB'); "
        "use a size like '256 MB' or '1 GB'",
    ]


def test_missing_file(tmp_path):
    path = tmp_path / "nope.json"
    assert problems_of(path) == [
        f"{path}: cannot read the file: no such file or directory (got '{path}'); set "
        f"runtimes.manifest to a manifest file relative to the project directory, e.g. "
        f"runtimes/default.json"]


def test_not_json(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"runtimes": {\n  "nodejs": [,]}}')
    assert problems_of(path) == [
        f"{path}: line 2 column 14: not valid JSON (Expecting value); fix the syntax"
    ]


def test_top_level_must_be_an_object(tmp_path):
    path = write(tmp_path, [1])
    assert problems_of(path) == [f"{path}: top level: expected an object (got [1]); fix the value"]


def test_every_problem_is_reported_at_once(tmp_path):
    def change(d):
        nodejs(d, 0)["image"]["tagg"] = "x"  # schema
        d["runtimes"]["python"][1]["default"] = False  # family rule
        d["blackboxes"][0]["tag"] = "nightly"  # pinning

    path = write(tmp_path, variant(change))
    assert problems_of(path) == [
        f"{path}: runtimes.nodejs[0].image.tagg: unknown field (got 'x'); remove it or fix the spelling",
        f"{path}: runtimes.python: several kinds but no default (got 'python:3.10', 'python:3.11'); "
        'set "default": true on exactly one of them',
        f"{path}: blackboxes[0].tag: blackbox openwhisk/dockerskeleton image tag is not pinned (got 'nightly'); "
        f"{PIN_FIX}",
    ]


# -- rendering ---------------------------------------------------------------------------------


def test_render_round_trips_the_source():
    assert json.loads(render(load_manifest(DEFAULT_MANIFEST))) == BASE


def test_render_is_deterministic_and_compact(tmp_path):
    reordered = {"blackboxes": BASE["blackboxes"], "runtimes": dict(reversed(BASE["runtimes"].items()))}
    first = render(load_manifest(DEFAULT_MANIFEST))
    again = render(load_manifest(DEFAULT_MANIFEST))
    other_order = render(load_manifest(write(tmp_path, {**reordered, "description": BASE["description"]})))
    assert first == again == other_order
    assert "\n" not in first and '": ' not in first and '"},{"' in first


def test_render_omits_none_fields(tmp_path):
    data = variant(lambda d: d["runtimes"].pop("python"))
    data["runtimes"]["nodejs"] = [{"kind": "nodejs:20", "image": {"name": "action-nodejs-v20", "tag": "1.22.0"}}]
    data["blackboxes"] = []
    data.pop("description")
    rendered = render(load_manifest(write(tmp_path, data)))
    assert rendered == (
        '{"blackboxes":[],"runtimes":{"nodejs":[{"image":{"name":"action-nodejs-v20","tag":"1.22.0"},'
        '"kind":"nodejs:20"}]}}'
    )


def test_render_applies_image_overrides():
    manifest = load_manifest(DEFAULT_MANIFEST)
    local = {"registry": "reg.local:5000", "prefix": "ow"}
    mirror = {
        "nodejs:20": ImageName(**local, name="action-nodejs-v20", tag="1.22.0"),
        "openwhisk/dockerskeleton": ImageName(**local, name="dockerskeleton", tag="1.15.0"),
    }
    rendered = json.loads(render(manifest, image_overrides=mirror))
    assert rendered["runtimes"]["nodejs"][1]["image"] == {
        "registry": "reg.local:5000",
        "prefix": "ow",
        "name": "action-nodejs-v20",
        "tag": "1.22.0",
    }
    assert rendered["runtimes"]["nodejs"][0]["image"] == BASE["runtimes"]["nodejs"][0]["image"]
    assert rendered["blackboxes"] == [{**local, "name": "dockerskeleton", "tag": "1.15.0"}]
    assert [image_ref(i) for i in images(manifest, image_overrides=mirror)][1::3] == [
        "reg.local:5000/ow/action-nodejs-v20:1.22.0",
        "reg.local:5000/ow/dockerskeleton:1.15.0",
    ]


def test_render_rejects_unknown_override_keys():
    with pytest.raises(ManifestError) as info:
        render(load_manifest(DEFAULT_MANIFEST), image_overrides={"nodejs:99": ImageName(name="x", tag="1")})
    assert info.value.problems == [
        "image_overrides['nodejs:99']: no runtime kind or blackbox has this key (got 'nodejs:99'); use one of "
        "'nodejs:18', 'nodejs:20', 'python:3.10', 'python:3.11', 'openwhisk/dockerskeleton'"
    ]


# -- helpers -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "image, ref",
    [
        (ImageName(name="dockerskeleton"), "dockerskeleton"),
        (ImageName(prefix="openwhisk", name="dockerskeleton", tag="1.15.0"), "openwhisk/dockerskeleton:1.15.0"),
        (ImageName(registry="reg.local:5000/", prefix="ow", name="n", tag="1"), "reg.local:5000/ow/n:1"),
        (ImageName(prefix="", name="n", tag=""), "n"),
        (ImageName(name="n", tag=DIGEST), f"n:{DIGEST}"),
    ],
)
def test_image_ref(image, ref):
    assert image_ref(image) == ref


def test_images_are_deduplicated(tmp_path):
    def change(d):
        d["runtimes"]["nodejs"][0]["image"] = dict(nodejs(d, 1)["image"])

    assert [image_ref(i) for i in images(load_manifest(write(tmp_path, variant(change))))][:2] == [
        "openwhisk/action-nodejs-v20:1.22.0",
        "openwhisk/action-python-v3.10:1.19.0",
    ]


def test_stem_cell_memory_counts_units_and_skips_deprecated(tmp_path):
    def change(d):
        nodejs(d, 0)["stemCells"] = [{"initialCount": 1, "memory": "1 GB"}]
        nodejs(d, 1)["stemCells"].append({"count": 3, "memory": "128m"})
        d["runtimes"]["python"][0].update(deprecated=True, stemCells=[{"initialCount": 4, "memory": "256 MB"}])

    assert stem_cell_memory_mb(load_manifest(write(tmp_path, variant(change)))) == 1024 + 512 + 384


def test_package_does_not_import_pulumi():
    for source in (Path(DEFAULT_MANIFEST).parent).glob("*.py"):
        assert "import pulumi" not in source.read_text()
