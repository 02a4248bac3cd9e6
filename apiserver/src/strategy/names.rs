//! Name validation as upstream's `apimachinery/pkg/util/validation`, with the
//! same messages (`a lowercase RFC 1123 subdomain must consist of ...`).

use serde_json::{json, Value};

use super::NameRule;
use crate::error::FieldError;

const DNS1123_LABEL_MAX: usize = 63;
const DNS1123_SUBDOMAIN_MAX: usize = 253;

const LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

fn is_alnum(c: u8) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

pub fn is_dns1123_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= DNS1123_LABEL_MAX
        && is_alnum(b[0])
        && is_alnum(b[b.len() - 1])
        && b.iter().all(|&c| is_alnum(c) || c == b'-')
}

pub fn is_dns1123_subdomain(s: &str) -> bool {
    s.len() <= DNS1123_SUBDOMAIN_MAX && !s.is_empty() && s.split('.').all(|part| {
        let b = part.as_bytes();
        !b.is_empty() && is_alnum(b[0]) && is_alnum(b[b.len() - 1]) && b.iter().all(|&c| is_alnum(c) || c == b'-')
    })
}

/// Messages for an invalid DNS-1123 label (empty when valid).
pub fn dns1123_label_errors(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    if s.len() > DNS1123_LABEL_MAX {
        out.push(format!("must be no more than {DNS1123_LABEL_MAX} characters"));
    }
    if !is_dns1123_label(&s[..s.len().min(DNS1123_LABEL_MAX)]) || s.is_empty() {
        out.push(LABEL_MSG.to_string());
    }
    out
}

/// Messages for an invalid DNS-1123 subdomain (empty when valid).
pub fn dns1123_subdomain_errors(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    if s.len() > DNS1123_SUBDOMAIN_MAX {
        out.push(format!("must be no more than {DNS1123_SUBDOMAIN_MAX} characters"));
    }
    let within = &s[..s.len().min(DNS1123_SUBDOMAIN_MAX)];
    if !is_dns1123_subdomain(within) {
        out.push(SUBDOMAIN_MSG.to_string());
    }
    out
}

pub fn path_segment_errors(s: &str) -> Vec<String> {
    if s == "." || s == ".." {
        return vec![format!("may not be '{s}'")];
    }
    ["/", "%"]
        .iter()
        .filter(|bad| s.contains(*bad))
        .map(|bad| format!("may not contain '{bad}'"))
        .collect()
}

/// Validate `value` at `field` with `rule`.
pub fn validate_name(rule: NameRule, value: &str, field: &str) -> Vec<FieldError> {
    let messages = match rule {
        NameRule::Subdomain => dns1123_subdomain_errors(value),
        NameRule::Label => dns1123_label_errors(value),
        NameRule::PathSegment => path_segment_errors(value),
    };
    messages.iter().map(|m| FieldError::invalid(field, &json!(value), m)).collect()
}

/// Qualified names (label and annotation keys, `prefix/name`).
pub fn qualified_name_errors(key: &str) -> Vec<String> {
    const NAME_MSG: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
    let (prefix, name) = match key.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    let mut out = Vec::new();
    if let Some(p) = prefix {
        if p.is_empty() {
            out.push("prefix part must be non-empty".to_string());
        } else {
            out.extend(dns1123_subdomain_errors(p).into_iter().map(|m| format!("prefix part {m}")));
        }
    }
    if name.is_empty() {
        out.push("name part must be non-empty".to_string());
    } else {
        if name.len() > 63 {
            out.push("name part must be no more than 63 characters".to_string());
        }
        let b = name.as_bytes();
        let ok = b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric()
            && b.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_' || c == b'.');
        if !ok {
            out.push(NAME_MSG.to_string());
        }
    }
    if key.matches('/').count() > 1 {
        out.push(NAME_MSG.replace("name part ", "a qualified name "));
    }
    out
}

pub fn label_value_errors(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    if value.len() > 63 {
        out.push("must be no more than 63 characters".to_string());
    }
    let b = value.as_bytes();
    let ok = b.is_empty()
        || (b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric()
            && b.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_' || c == b'.'));
    if !ok {
        out.push("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')".to_string());
    }
    out
}

/// Validate `metadata.labels` and `metadata.annotations` keys/values.
pub fn validate_labels_and_annotations(meta: &Value, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if let Some(labels) = meta.get("labels").and_then(Value::as_object) {
        for (k, v) in labels {
            for m in qualified_name_errors(k) {
                errs.push(FieldError::invalid(format!("{path}.labels"), &json!(k), &m));
            }
            if let Some(s) = v.as_str() {
                for m in label_value_errors(s) {
                    errs.push(FieldError::invalid(format!("{path}.labels"), &json!(s), &m));
                }
            }
        }
    }
    if let Some(ann) = meta.get("annotations").and_then(Value::as_object) {
        let mut total = 0usize;
        for (k, v) in ann {
            total += k.len() + v.as_str().map_or(0, str::len);
            for m in qualified_name_errors(&k.to_lowercase()) {
                errs.push(FieldError::invalid(format!("{path}.annotations"), &json!(k), &m));
            }
        }
        if total > 256 * 1024 {
            errs.push(FieldError::too_long(format!("{path}.annotations"), 256 * 1024));
        }
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_table() {
        let cases: &[(&str, bool, bool)] = &[
            // (name, label?, subdomain?)
            ("web", true, true),
            ("web-1", true, true),
            ("a.b", false, true),
            ("Web", false, false),
            ("-web", false, false),
            ("web-", false, false),
            ("", false, false),
            ("a..b", false, false),
        ];
        for (name, label, sub) in cases {
            assert_eq!(is_dns1123_label(name), *label, "label {name}");
            assert_eq!(is_dns1123_subdomain(name), *sub, "subdomain {name}");
        }
    }

    #[test]
    fn qualified_names() {
        assert!(qualified_name_errors("app").is_empty());
        assert!(qualified_name_errors("kubernetes.io/metadata.name").is_empty());
        assert!(!qualified_name_errors("bad key").is_empty());
        assert!(!qualified_name_errors("/x").is_empty());
        assert!(!qualified_name_errors("a/b/c").is_empty());
    }
}
