//! `PartialObjectMetadata` responses (`meta.k8s.io`): each object reduced to
//! its metadata, for clients that only follow metadata (client-go's
//! metadata informers, kube-rs' `metadata_watcher`, garbage collectors).

use serde_json::Value;

use crate::codec::stamp::metadata_bytes;

/// `{"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/<version>","metadata":{...}}`
/// for an object's JSON, copying its metadata bytes as they are.
pub fn object(json: &[u8], version: &str) -> Vec<u8> {
    let decoded;
    let metadata = match metadata_bytes(json) {
        Some(m) => m,
        None => {
            // Not the shape the server stores: decode to be safe.
            let value: Value = serde_json::from_slice(json).unwrap_or(Value::Null);
            let empty = Value::Object(Default::default());
            decoded = serde_json::to_vec(value.get("metadata").filter(|m| m.is_object()).unwrap_or(&empty)).unwrap_or_default();
            &decoded
        }
    };
    let mut out = Vec::with_capacity(metadata.len() + 80);
    out.extend_from_slice(b"{\"kind\":\"PartialObjectMetadata\",\"apiVersion\":\"meta.k8s.io/");
    out.extend_from_slice(version.as_bytes());
    out.extend_from_slice(b"\",\"metadata\":");
    out.extend_from_slice(metadata);
    out.push(b'}');
    out
}

/// The list kind and apiVersion of a `PartialObjectMetadataList`.
pub fn list_type(version: &str) -> (&'static str, String) {
    ("PartialObjectMetadataList", format!("meta.k8s.io/{version}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_only_the_metadata() {
        let pod = br#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a","namespace":"d","resourceVersion":"5"},"spec":{"containers":[]}}"#;
        let v: Value = serde_json::from_slice(&object(pod, "v1")).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                "metadata": {"name": "a", "namespace": "d", "resourceVersion": "5"}})
        );
        let odd: Value = serde_json::from_slice(&object(b" {\"metadata\" : null}", "v1beta1")).unwrap();
        assert_eq!(odd["metadata"], serde_json::json!({}));
        assert_eq!(odd["apiVersion"], "meta.k8s.io/v1beta1");
    }
}
