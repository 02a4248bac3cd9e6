//! Table-driven tests. `apply` and `diff` use a recursive test type in the
//! style of upstream's `patch_test.go` (`mergeItem`); `kubectl` replays the
//! patches kubectl sends against the real Kubernetes schemas.

mod apply;
mod diff;
mod kubectl;
mod three_way;

use serde_json::Value;

use super::{apply_strategic_patch, create_three_way_merge_patch, create_two_way_merge_patch};
use crate::patch::meta::{FieldMeta, PatchMeta, PatchStrategy};

/// Upstream's `mergeItem` test struct:
///
/// ```go
/// type mergeItem struct {
///     Name, Value, Other string
///     MergingList           []mergeItem `patchStrategy:"merge" patchMergeKey:"name"`
///     NonMergingList        []mergeItem
///     MergingIntList        []int `patchStrategy:"merge"`
///     NonMergingIntList     []int
///     MergeItemPtr          *mergeItem `patchStrategy:"merge"`
///     SimpleMap             map[string]string
///     ReplacingItem         runtime.RawExtension `patchStrategy:"replace"`
///     RetainKeysMap         retainKeysStruct `patchStrategy:"retainKeys"`
///     RetainKeysMergingList []mergeItem `patchStrategy:"merge,retainKeys" patchMergeKey:"name"`
/// }
/// ```
/// plus `noKeyList []mergeItem` with the merge strategy but no merge key.
pub(super) struct MergeItem;

impl PatchMeta for MergeItem {
    fn field(&self, name: &str) -> FieldMeta {
        let (strategy, retain_keys) = match name {
            "mergingList" => (PatchStrategy::merge_by("name"), false),
            "mergingIntList" => (PatchStrategy::merge_primitives(), false),
            "noKeyList" => (PatchStrategy::merge_primitives(), false),
            "replacingItem" => (PatchStrategy::Replace, false),
            "retainKeysMap" => (PatchStrategy::Default, true),
            "retainKeysMergingList" => (PatchStrategy::merge_by("name"), true),
            _ => (PatchStrategy::Default, false),
        };
        FieldMeta {
            strategy,
            retain_keys,
            child: Box::new(MergeItem),
        }
    }
}

/// Applies `patch` to `original`; `expected` is the result or the error text.
pub(super) fn check(
    original: Value,
    patch: Value,
    meta: &dyn PatchMeta,
    expected: Result<Value, &str>,
) {
    let got = apply_strategic_patch(&original, &patch, meta).map_err(|e| e.to_string());
    let expected = expected.map_err(str::to_string);
    assert_eq!(got, expected, "\noriginal: {original}\npatch:    {patch}");
}

/// Diffs `original` against `modified`, expecting `patch` (compared as
/// serialized JSON, so key order matters), then checks that applying the
/// patch yields `modified`.
pub(super) fn check_diff(
    original: Value,
    modified: Value,
    meta: &dyn PatchMeta,
    expected: Result<&str, &str>,
) {
    let got = create_two_way_merge_patch(&original, &modified, meta);
    let rendered = got
        .as_ref()
        .map(|p| p.to_string())
        .map_err(|e| e.to_string());
    assert_eq!(
        rendered
            .as_ref()
            .map(String::as_str)
            .map_err(String::as_str),
        expected,
        "\noriginal: {original}\nmodified: {modified}"
    );
    if let Ok(patch) = got {
        let applied = apply_strategic_patch(&original, &patch, meta).map_err(|e| e.to_string());
        assert_eq!(applied, Ok(modified.clone()), "round trip of {patch}");
    }
}

/// Computes the client-side apply patch from last-applied `original`, the new
/// `modified` and the live `current`; checks its serialization and that
/// applying it to `current` gives `result`.
pub(super) fn check_three_way(
    original: Value,
    modified: Value,
    current: Value,
    meta: &dyn PatchMeta,
    expected: &str,
    result: Value,
) {
    let patch = create_three_way_merge_patch(&original, &modified, &current, meta);
    let rendered = patch
        .as_ref()
        .map(|p| p.to_string())
        .map_err(|e| e.to_string());
    assert_eq!(
        rendered.as_ref().map(String::as_str),
        Ok(expected),
        "\noriginal: {original}\nmodified: {modified}\ncurrent:  {current}"
    );
    if let Ok(patch) = patch {
        let applied = apply_strategic_patch(&current, &patch, meta).map_err(|e| e.to_string());
        assert_eq!(applied, Ok(result), "applying {patch}");
    }
}
