//! Setting `metadata.resourceVersion` in encoded JSON without decoding it.
//!
//! Objects are stored without a resourceVersion (the storage revision is
//! the resourceVersion). Every write answers with the object and feeds the
//! watch cache with it, both carrying the revision; decoding the stored
//! bytes into a `Value` just to add one field, then encoding them again,
//! was a large part of a write's cost. [`stamp_resource_version`] scans the
//! bytes instead and splices the field in at the end of `metadata`, where
//! inserting it into a `Value` (an insertion-ordered map) would put it, so
//! both ways give the same bytes.

/// `json` (valid JSON, as the server encoded it: scalars are not checked)
/// with `"resourceVersion":"<revision>"` appended to its top-level
/// `metadata` object. `None` when `json` is not an object with a
/// `metadata` object, or `metadata` already has a resourceVersion; callers
/// then take the decoding path.
pub fn stamp_resource_version(json: &[u8], revision: i64) -> Option<Vec<u8>> {
    let Scan { close, empty } = find_metadata(json)?;
    let revision = revision.to_string();
    let mut out = Vec::with_capacity(json.len() + revision.len() + 22);
    out.extend_from_slice(&json[..close]);
    if !empty {
        out.push(b',');
    }
    out.extend_from_slice(b"\"resourceVersion\":\"");
    out.extend_from_slice(revision.as_bytes());
    out.push(b'"');
    out.extend_from_slice(&json[close..]);
    Some(out)
}

/// The bytes of the top-level `metadata` object of `json` (valid JSON),
/// e.g. to answer with `PartialObjectMetadata` without decoding.
pub fn metadata_bytes(json: &[u8]) -> Option<&[u8]> {
    metadata_span(json).map(|span| &json[span])
}

/// Where the top-level `metadata` object is in `json`; `None` unless `json`
/// is one object (blanks around it allowed) whose first `metadata` member
/// is an object.
fn metadata_span(json: &[u8]) -> Option<std::ops::Range<usize>> {
    let mut at = skip_ws(json, 0);
    let mut span = None;
    visit_object(json, &mut at, |json, key, at| {
        let start = *at;
        skip_value(json, at)?;
        if key == b"metadata" && span.is_none() {
            span = Some(start..*at);
        }
        Some(())
    })?;
    if skip_ws(json, at) != json.len() {
        return None;
    }
    span.filter(|s| json.get(s.start) == Some(&b'{'))
}

/// Where `metadata`'s closing brace is, and whether the object is empty.
struct Scan {
    close: usize,
    empty: bool,
}

/// The metadata object, if it has no resourceVersion yet.
fn find_metadata(json: &[u8]) -> Option<Scan> {
    let span = metadata_span(json)?;
    let mut at = span.start;
    let mut members = 0usize;
    let mut has_rv = false;
    visit_object(json, &mut at, |json, key, at| {
        members += 1;
        has_rv |= key == b"resourceVersion";
        skip_value(json, at)
    })?;
    (!has_rv).then_some(Scan { close: span.end - 1, empty: members == 0 })
}

/// Walks the object at `*at`, calling `member` with each raw key (escapes
/// left as they are; a key with escapes never equals a plain name) and the
/// position of its value; `member` must move `*at` past the value. Leaves
/// `*at` just past the closing brace.
fn visit_object(
    json: &[u8],
    at: &mut usize,
    mut member: impl FnMut(&[u8], &[u8], &mut usize) -> Option<()>,
) -> Option<()> {
    if json.get(*at) != Some(&b'{') {
        return None;
    }
    *at = skip_ws(json, *at + 1);
    if json.get(*at) == Some(&b'}') {
        *at += 1;
        return Some(());
    }
    loop {
        let key_start = *at + 1;
        *at = skip_string(json, *at)?;
        let key = &json[key_start..*at - 1];
        *at = skip_ws(json, *at);
        if json.get(*at) != Some(&b':') {
            return None;
        }
        *at = skip_ws(json, *at + 1);
        member(json, key, at)?;
        *at = skip_ws(json, *at);
        match json.get(*at) {
            Some(b',') => *at = skip_ws(json, *at + 1),
            Some(b'}') => {
                *at += 1;
                return Some(());
            }
            _ => return None,
        }
    }
}

fn skip_ws(json: &[u8], mut at: usize) -> usize {
    while matches!(json.get(at), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        at += 1;
    }
    at
}

/// Past the string starting at `at` (which must be its opening quote).
fn skip_string(json: &[u8], at: usize) -> Option<usize> {
    if json.get(at) != Some(&b'"') {
        return None;
    }
    let mut i = at + 1;
    loop {
        match json.get(i)? {
            b'"' => return Some(i + 1),
            b'\\' => i += 2,
            _ => i += 1,
        }
    }
}

/// Past the value starting at `*at`. Nesting is tracked with a counter,
/// so arbitrarily deep input cannot overflow the stack.
fn skip_value(json: &[u8], at: &mut usize) -> Option<()> {
    let mut depth = 0usize;
    loop {
        match json.get(*at)? {
            b'"' => *at = skip_string(json, *at)?,
            b'{' | b'[' => {
                depth += 1;
                *at += 1;
            }
            b'}' | b']' => {
                depth = depth.checked_sub(1)?;
                *at += 1;
            }
            _ => {
                // A scalar (or separators and blanks inside a container).
                *at += 1;
                while let Some(c) = json.get(*at) {
                    if matches!(c, b'"' | b'{' | b'[' | b'}' | b']') || (depth == 0 && matches!(c, b',')) {
                        break;
                    }
                    *at += 1;
                }
            }
        }
        if depth == 0 {
            return Some(());
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;

    /// What the decoding path produces: the reference.
    fn decoded(json: &[u8], revision: i64) -> Option<Vec<u8>> {
        let mut v: Value = serde_json::from_slice(json).ok()?;
        let meta = v.get_mut("metadata")?.as_object_mut()?;
        if meta.contains_key("resourceVersion") {
            return None;
        }
        meta.insert("resourceVersion".into(), json!(revision.to_string()));
        serde_json::to_vec(&v).ok()
    }

    #[test]
    fn stamps_like_the_decoding_path() {
        let cases = [
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": "default"}, "data": {"k": "v"}}),
            json!({"kind": "X", "data": {"metadata": {"x": 1}}, "metadata": {}}),
            json!({"spec": {"a": [1, 2, {"b": "}]\\\"{"}], "c": null, "d": -1.5e3, "e": true}, "metadata": {"labels": {"a\"b": "c"}}, "status": {}}),
            json!({"metadata": {"name": "x", "annotations": {"resourceVersion": "1"}}, "z": "metadata"}),
            json!({"metadata": {"name": "x", "managedFields": [{"fieldsV1": {"f:data": {".": {}, "f:k": {}}}}]}}),
        ];
        for case in cases {
            let bytes = serde_json::to_vec(&case).unwrap();
            assert_eq!(stamp_resource_version(&bytes, 42), decoded(&bytes, 42), "{case}");
            assert!(stamp_resource_version(&bytes, 42).is_some(), "{case}");
        }
    }

    #[test]
    fn declines_what_the_decoding_path_must_handle() {
        let cases: [&[u8]; 9] = [
            br#"{"metadata":{"name":"a","resourceVersion":"7"}}"#,
            br#"{"kind":"X"}"#,
            br#"{"metadata":null}"#,
            br#"{"metadata":[]}"#,
            br#"[1,2]"#,
            br#"{"metadata":{"name":"a"}"#,
            br#"{"metadata":{"name":"a"}} x"#,
            br#"{"metadata":{"name":"a}}"#,
            b"",
        ];
        for case in cases {
            assert_eq!(stamp_resource_version(case, 1), None, "{}", String::from_utf8_lossy(case));
        }
    }

    #[test]
    fn metadata_bytes_is_the_metadata_object() {
        let json = br#"{"kind":"Pod","spec":{"metadata":1},"metadata":{"name":"a","labels":{"x":"}"}},"status":{}}"#;
        assert_eq!(metadata_bytes(json), Some(&br#"{"name":"a","labels":{"x":"}"}}"#[..]));
        assert_eq!(metadata_bytes(br#"{"metadata":null}"#), None);
        assert_eq!(metadata_bytes(br#"{"kind":"X"}"#), None);
    }

    #[test]
    fn tolerates_blanks_and_deep_nesting() {
        let spaced = b" { \"metadata\" : { \"name\" : \"a\" } , \"x\" : [ 1 , { } ] } ";
        let stamped = stamp_resource_version(spaced, 3).unwrap();
        let v: Value = serde_json::from_slice(&stamped).unwrap();
        assert_eq!(v["metadata"]["resourceVersion"], "3");
        assert_eq!(v["metadata"]["name"], "a");
        let deep = format!("{{\"x\":{}1{},\"metadata\":{{}}}}", "[".repeat(100_000), "]".repeat(100_000));
        let stamped = stamp_resource_version(deep.as_bytes(), 9).unwrap();
        assert!(stamped.ends_with(br#""metadata":{"resourceVersion":"9"}}"#));
    }
}
