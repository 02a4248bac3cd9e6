//! Request body decoding by content type (JSON, YAML, protobuf envelope) and
//! response content negotiation.

pub mod json;
pub mod stamp;

use axum::http::{header, HeaderMap};
use serde_json::Value;

use crate::error::{ApiError, ApiResult};

/// A decoded body and the duplicate fields seen while decoding.
pub struct Decoded {
    pub value: Value,
    pub duplicates: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFormat {
    Json,
    Yaml,
    Protobuf,
}

pub fn body_format(headers: &HeaderMap) -> ApiResult<BodyFormat> {
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let media = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    match media.as_str() {
        // kubectl scale --current-replicas sends no Content-Type: treat as JSON.
        "" | "application/json" | "*/*" => Ok(BodyFormat::Json),
        "application/yaml" | "application/x-yaml" | "text/yaml" => Ok(BodyFormat::Yaml),
        "application/vnd.kubernetes.protobuf" => Ok(BodyFormat::Protobuf),
        other => Err(ApiError::UnsupportedMediaType {
            message: format!("the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf (got {other:?})"),
        }),
    }
}

/// Decode a body of `format` into JSON.
pub fn decode(format: BodyFormat, body: &[u8]) -> ApiResult<Decoded> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("the request body is empty"));
    }
    match format {
        BodyFormat::Json => {
            let (value, duplicates) = json::parse_with_duplicates(body)
                .map_err(|e| ApiError::bad_request(format!("error decoding JSON body: {e}")))?;
            Ok(Decoded { value, duplicates })
        }
        BodyFormat::Yaml => {
            let value: Value = serde_yaml_ng::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("error decoding YAML body: {e}")))?;
            Ok(Decoded { value, duplicates: Vec::new() })
        }
        BodyFormat::Protobuf => {
            let value = protowire::decode(body).map_err(|e| ApiError::bad_request(format!("error decoding protobuf body: {e}")))?;
            Ok(Decoded { value, duplicates: Vec::new() })
        }
    }
}

/// What the client accepts for a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseFormat {
    Json,
    /// `application/json;as=Table;v=v1;g=meta.k8s.io`
    Table,
    /// `application/json;as=PartialObjectMetadata;v=v1;g=meta.k8s.io` (get,
    /// watch) or `as=PartialObjectMetadataList` (list): metadata only, as
    /// client-go's metadata client and kube-rs' `metadata_watcher` ask.
    /// Holds the `meta.k8s.io` version asked for.
    PartialMetadata(&'static str),
}

pub fn response_format(headers: &HeaderMap) -> ApiResult<ResponseFormat> {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    if accept.trim().is_empty() {
        return Ok(ResponseFormat::Json);
    }
    let mut json_ok = false;
    for item in accept.split(',') {
        let mut parts = item.split(';').map(str::trim);
        let media = parts.next().unwrap_or("").to_ascii_lowercase();
        let params: Vec<(String, String)> = parts
            .filter_map(|p| p.split_once('='))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();
        let param = |k: &str| params.iter().find(|(pk, _)| pk == k).map(|(_, v)| v.as_str());
        if media == "application/json" || media == "*/*" || media == "application/*" {
            match param("as") {
                Some("Table") if param("g") == Some("meta.k8s.io") && matches!(param("v"), Some("v1") | Some("v1beta1")) => {
                    return Ok(ResponseFormat::Table);
                }
                Some("PartialObjectMetadata" | "PartialObjectMetadataList") if param("g") == Some("meta.k8s.io") => {
                    match param("v") {
                        Some("v1") => return Ok(ResponseFormat::PartialMetadata("v1")),
                        Some("v1beta1") => return Ok(ResponseFormat::PartialMetadata("v1beta1")),
                        _ => {}
                    }
                }
                Some(_) => {}
                None => json_ok = true,
            }
        }
        // We answer protobuf requests with JSON only when JSON is also accepted.
    }
    if json_ok {
        Ok(ResponseFormat::Json)
    } else {
        Err(ApiError::NotAcceptable {
            message: "only the following media types are accepted: application/json, application/json;as=Table;v=v1;g=meta.k8s.io, application/json;as=PartialObjectMetadata;v=v1;g=meta.k8s.io, application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn accept(v: &str) -> ApiResult<ResponseFormat> {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, HeaderValue::from_str(v).unwrap());
        response_format(&h)
    }

    #[test]
    fn negotiation_table() {
        assert_eq!(accept("application/json").unwrap(), ResponseFormat::Json);
        assert_eq!(
            accept("application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json").unwrap(),
            ResponseFormat::Table
        );
        assert_eq!(accept("application/vnd.kubernetes.protobuf, */*").unwrap(), ResponseFormat::Json);
        assert!(accept("application/vnd.kubernetes.protobuf").is_err());
    }

    #[test]
    fn negotiation_partial_metadata() {
        for (header, want) in [
            ("application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1", Some(ResponseFormat::PartialMetadata("v1"))),
            ("application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1", Some(ResponseFormat::PartialMetadata("v1"))),
            (
                "application/vnd.kubernetes.protobuf;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1beta1,application/json",
                Some(ResponseFormat::PartialMetadata("v1beta1")),
            ),
            ("application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v2", None),
            ("application/json;as=PartialObjectMetadata;g=other;v=v1", None),
        ] {
            assert_eq!(accept(header).ok(), want, "{header}");
        }
    }
}
