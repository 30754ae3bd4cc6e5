import json
import os
import re

import numpy as np
import pytest

from neurec.schema import BUNDLE_ITEMS, BUNDLE_MANIFEST, BUNDLE_MODEL, BUNDLE_RULES, BUNDLE_VOCAB
from neurec.serving import BundleError, RulesConfig, load_bundle
from neurec.serving.copurchase import COPURCHASE_FILE


def _edit_json(path, edit):
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


def test_good_bundle_loads(template_bundle, kit):
    b = load_bundle(template_bundle)
    assert b.model_version == "fixture-1" and b.training_run_id == "run-123"
    assert b.max_history == 5 and b.temperature == 1.0 and b.bias == 0.0
    assert b.rules == RulesConfig(**kit.RULES)
    assert len(b.vocab) == len(kit.KNOWN) + 2
    assert b.items["item_id"].tolist() == kit.ITEMS["item_id"]
    assert b.items["index"].dtype == np.int64 and b.items["stock"].dtype == np.float64
    assert b.model_path == template_bundle / BUNDLE_MODEL


def test_changed_model_byte(bundle_copy):
    path = bundle_copy / BUNDLE_MODEL
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(BundleError, match=r"model\.onnx sha256 mismatch .*changed after export"):
        load_bundle(bundle_copy)


def test_changed_items_byte(bundle_copy):
    path = bundle_copy / BUNDLE_ITEMS
    path.write_text(path.read_text().replace("100001", "100009", 1))
    with pytest.raises(BundleError, match=r"items\.json sha256 mismatch"):
        load_bundle(bundle_copy)


@pytest.mark.parametrize("name", [BUNDLE_MODEL, BUNDLE_VOCAB, BUNDLE_ITEMS, BUNDLE_RULES, COPURCHASE_FILE])
def test_deleted_file(bundle_copy, name):
    (bundle_copy / name).unlink()
    with pytest.raises(BundleError, match=rf"{name} is listed in manifest\.json but missing"):
        load_bundle(bundle_copy)


def test_wrong_schema_version(bundle_copy):
    _edit_json(bundle_copy / BUNDLE_MANIFEST, lambda m: m.update(schema_version="1"))
    with pytest.raises(BundleError, match=r"schema_version '1' is not supported .* reads '2'"):
        load_bundle(bundle_copy)


def test_vocab_hash_mismatch(bundle_copy):
    _edit_json(bundle_copy / BUNDLE_MANIFEST, lambda m: m.update(vocab_sha256="0" * 64))
    with pytest.raises(BundleError, match=r"vocab\.json does not match the vocabulary .*vocab_sha256 000000"):
        load_bundle(bundle_copy)


def test_manifest_missing(bundle_copy):
    (bundle_copy / BUNDLE_MANIFEST).unlink()
    with pytest.raises(BundleError, match=r"manifest\.json is missing"):
        load_bundle(bundle_copy)


def test_manifest_garbled(bundle_copy):
    (bundle_copy / BUNDLE_MANIFEST).write_text('{"schema_version": "1", ')
    with pytest.raises(BundleError, match=r"manifest\.json is not valid JSON"):
        load_bundle(bundle_copy)


def test_not_a_folder(tmp_path):
    with pytest.raises(BundleError, match="not a folder"):
        load_bundle(tmp_path / "nope")


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda m: m["files"].pop(BUNDLE_RULES), r"does not list rules\.json"),
        (lambda m: m["files"].update({"../x": "0" * 64}), r"'\.\./x' is not a plain file name"),
        (lambda m: m["calibration"].update(temperature=0), r"calibration\.temperature' must be a positive number"),
        (lambda m: m["model"].update(max_history=0), r"model\.max_history"),
        (lambda m: m["model"]["inputs"].pop(), r"'model\.inputs' are"),
        (lambda m: m.update(n_items=99), r"n_items=99"),
        (lambda m: m.update(training_run_id=5), r"training_run_id. must be a string or null"),
    ],
)
def test_manifest_fields(bundle_copy, edit, message):
    _edit_json(bundle_copy / BUNDLE_MANIFEST, edit)
    with pytest.raises(BundleError, match=message):
        load_bundle(bundle_copy)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda t: t["price"].pop(), r"columns differ in length"),
        (lambda t: t["index"].__setitem__(0, 10), r"1 index values outside \[1, 10\), e\.g\. item '100001'"),
        (lambda t: t["index"].__setitem__(0, 0), r"index values outside"),
        (lambda t: t["index"].__setitem__(0, 3), r"index disagrees with vocab\.json .*'100001' has index 3"),
        (lambda t: t["item_id"].__setitem__(1, "100001"), r"item_id has duplicates"),
        (lambda t: t["margin"].__setitem__(2, "high"), r"margin must hold numbers or null; row 2 has 'high'"),
        (lambda t: t.pop("index"), r"no 'index' column"),
    ],
)
def test_item_table_checks(bundle_copy, kit, edit, message):
    _edit_json(bundle_copy / BUNDLE_ITEMS, edit)
    kit.rehash(bundle_copy)
    with pytest.raises(BundleError, match=message):
        load_bundle(bundle_copy)


def test_rules_unknown_key_named(bundle_copy, kit):
    _edit_json(bundle_copy / BUNDLE_RULES, lambda r: r.update(min_probabilty=0.5))
    kit.rehash(bundle_copy)
    with pytest.raises(BundleError, match=r"rules\.json: unknown key 'min_probabilty'"):
        load_bundle(bundle_copy)


def test_graph_names_must_match(bundle_copy, kit, tmp_path):
    import onnx

    model = onnx.load(str(bundle_copy / BUNDLE_MODEL))
    model.graph.output[0].name = "scores"
    model.graph.node[-1].output[0] = "scores"
    onnx.save(model, str(bundle_copy / BUNDLE_MODEL))
    kit.rehash(bundle_copy)
    with pytest.raises(BundleError, match=r"outputs \['scores'\], but the manifest declares"):
        load_bundle(bundle_copy)


def test_unloadable_model(bundle_copy, kit):
    (bundle_copy / BUNDLE_MODEL).write_bytes(b"not an onnx graph")
    kit.rehash(bundle_copy)
    with pytest.raises(BundleError, match=r"onnxruntime .* cannot load model\.onnx"):
        load_bundle(bundle_copy)


def test_null_catalog_values_become_nan(bundle_copy, kit):
    _edit_json(bundle_copy / BUNDLE_ITEMS, lambda t: t["margin"].__setitem__(0, None))
    kit.rehash(bundle_copy)
    assert np.isnan(load_bundle(bundle_copy).items["margin"][0])


def test_empty_item_table(bundle_copy, kit):
    _edit_json(bundle_copy / BUNDLE_ITEMS, lambda t: [v.clear() for v in t.values()])
    kit.rehash(bundle_copy)
    with pytest.raises(BundleError, match=r"items\.json has no items"):
        load_bundle(bundle_copy)


def test_copurchase_is_read_into_rows(shop_bundle, kit):
    b = load_bundle(shop_bundle)
    row = {item: i for i, item in enumerate(kit.SHOP_ITEMS["item_id"])}
    assert b.copurchase.partners[row["100001"]].tolist() == [row["100007"]]  # 999999 left the catalogue
    assert b.copurchase.replenish_days[row["100007"]] == 20.0
    assert np.isnan(b.copurchase.replenish_days[row["100001"]])
    assert b.items["tier"].dtype == np.float64


def test_bundle_without_copurchase_loads(template_bundle):
    assert load_bundle(template_bundle).copurchase is None


def test_tampered_copurchase_is_refused(shop_copy):
    path = shop_copy / COPURCHASE_FILE
    path.write_text(path.read_text().replace("100007", "100003", 1))
    with pytest.raises(BundleError, match=r"copurchase\.json sha256 mismatch .*changed after export"):
        load_bundle(shop_copy)


def test_deleted_copurchase_is_refused_when_listed(shop_copy):
    (shop_copy / COPURCHASE_FILE).unlink()
    with pytest.raises(BundleError, match=r"copurchase\.json is listed in manifest\.json but missing"):
        load_bundle(shop_copy)


@pytest.mark.parametrize("name", [BUNDLE_MODEL, BUNDLE_VOCAB, BUNDLE_ITEMS, BUNDLE_RULES, COPURCHASE_FILE])
def test_a_manifest_that_drops_a_required_file_is_refused(shop_copy, name):
    # Unlisting copurchase.json used to load, and the cross-sells silently vanished.
    _edit_json(shop_copy / BUNDLE_MANIFEST, lambda m: m["files"].pop(name))
    with pytest.raises(BundleError, match=rf"does not list {re.escape(name)}, which every bundle has"):
        load_bundle(shop_copy)


def test_an_unlisted_extra_file_is_ignored(bundle_copy):
    (bundle_copy / "notes.txt").write_text("dropped next to the bundle by hand: not hashed, so never read")
    assert load_bundle(bundle_copy).model_version == "fixture-1"


def test_bundle_error_is_a_user_error():
    from neurec.errors import UserError

    assert issubclass(BundleError, UserError)  # so every entry point reports it in one line, exit 2


@pytest.mark.parametrize("name", [BUNDLE_MANIFEST, BUNDLE_MODEL, BUNDLE_VOCAB, BUNDLE_ITEMS, BUNDLE_RULES,
                                  COPURCHASE_FILE])
def test_a_file_replaced_by_a_directory_is_named_as_such(bundle_copy, name):
    (bundle_copy / name).unlink()
    (bundle_copy / name).mkdir()
    with pytest.raises(BundleError, match=rf"{re.escape(name)} is a directory where a file is expected"):
        load_bundle(bundle_copy)


def test_a_fifo_is_not_read(bundle_copy):
    # Reading a FIFO would hang the loader; it is refused by its type before any read.
    (bundle_copy / BUNDLE_RULES).unlink()
    os.mkfifo(bundle_copy / BUNDLE_RULES)
    with pytest.raises(BundleError, match=r"rules\.json is not a regular file"):
        load_bundle(bundle_copy)


@pytest.mark.parametrize("where", ["listed file", "unlisted file", "folder", "outside"])
def test_symlinks_inside_a_bundle_are_refused(bundle_copy, tmp_path, where):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    if where == "listed file":  # same bytes, so every hash still matches: only the link itself is wrong
        (outside / BUNDLE_RULES).write_bytes((bundle_copy / BUNDLE_RULES).read_bytes())
        (bundle_copy / BUNDLE_RULES).unlink()
        (bundle_copy / BUNDLE_RULES).symlink_to(outside / BUNDLE_RULES)
        link = BUNDLE_RULES
    elif where == "unlisted file":
        link = "extra.json"
        (bundle_copy / link).symlink_to(bundle_copy / BUNDLE_ITEMS)
    elif where == "folder":
        (bundle_copy / "sub").mkdir()
        link = "sub/deep"
        (bundle_copy / link).symlink_to(outside, target_is_directory=True)
    else:
        link = "etc"
        (bundle_copy / link).symlink_to("/etc", target_is_directory=True)
    with pytest.raises(BundleError, match=rf"{re.escape(link)} is a symbolic link"):
        load_bundle(bundle_copy)


@pytest.mark.parametrize("bad", ["sub/x.json", "/etc/passwd", "a\\b", "x\x00y", "", ".hidden", "..", "a b",
                                 BUNDLE_MANIFEST, "manifest.sig"])
def test_manifest_file_names_must_be_plain(bundle_copy, bad):
    _edit_json(bundle_copy / BUNDLE_MANIFEST, lambda m: m["files"].update({bad: "0" * 64}))
    with pytest.raises(BundleError, match=rf"file name {re.escape(repr(bad))} is not a plain file name"):
        load_bundle(bundle_copy)


@pytest.mark.parametrize("digest", ["00", 12, None, "z" * 64, ["a"]])
def test_manifest_hashes_must_be_sha256_hex(bundle_copy, digest):
    _edit_json(bundle_copy / BUNDLE_MANIFEST, lambda m: m["files"].update({BUNDLE_RULES: digest}))
    with pytest.raises(BundleError, match=r"files\.rules\.json must be a sha256 of 64 hex characters"):
        load_bundle(bundle_copy)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda c: c.update(format=2), r"copurchase\.json: format 2 is not supported"),
        (lambda c: c["partners"]["100001"]["lift"].pop(), r"partners\.100001: item_id, lift and support differ"),
        (lambda c: c["partners"]["100001"]["support"].__setitem__(0, 0), r"partners\.100001\.support"),
        (lambda c: c["replenish_days"].update({"100007": -3}), r"replenish_days\.100007: expected a positive"),
        (lambda c: c.update(partners=[]), r"partners: expected an object"),
    ],
)
def test_malformed_copurchase_names_the_key(shop_copy, kit, edit, message):
    _edit_json(shop_copy / COPURCHASE_FILE, edit)
    kit.rehash(shop_copy)
    with pytest.raises(BundleError, match=message):
        load_bundle(shop_copy)
