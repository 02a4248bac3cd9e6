//! Errors of strategic merge patch, worded like upstream
//! `k8s.io/apimachinery/pkg/util/mergepatch` and `strategicpatch`.

/// Why a strategic merge patch could not be applied or computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatchError {
    #[error("invalid JSON document")]
    InvalidDocument,
    #[error("map: {map} does not contain declared merge key: {key}")]
    NoMergeKey { map: String, key: String },
    #[error("expected a {expected}, but received a {actual}")]
    BadArgType {
        expected: &'static str,
        actual: &'static str,
    },
    #[error("unknown patch type: {directive} in map: {map}")]
    BadPatchType { directive: String, map: String },
    #[error("lists of lists are not supported")]
    ListOfLists,
    #[error("list element types are not identical: {0}")]
    MixedElementTypes(String),
    #[error("invalid patch format of primitive list")]
    BadPrimitiveListFormat,
    #[error("invalid patch format of retainKeys")]
    BadRetainKeysFormat,
    #[error("invalid patch format of setElementOrder list")]
    BadSetElementOrderFormat,
    #[error("The order in patch list:\n{patch}\n doesn't match $setElementOrder list:\n{order}\n")]
    SetElementOrderMismatch { patch: String, order: String },
    #[error("merging lists cannot yet be specified in the patch")]
    MergeListDirective,
    #[error("cannot merge lists without merge key for type {0}")]
    NoMergeKeyDeclared(&'static str),
    #[error("value for key {0} is not a map.")]
    NotAMap(usize),
    #[error("invalid value for special key: $patch")]
    BadDirectiveValue,
    #[error("{left} and {right} are not deep equal: this may happen when calculating the 3-way diff patch")]
    DirectiveConflict {
        key: String,
        left: String,
        right: String,
    },
}
