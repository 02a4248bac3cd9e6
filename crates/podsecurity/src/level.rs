//! Levels, policy versions and the namespace labels that select them, as
//! upstream's `k8s.io/pod-security-admission/api` (`helpers.go`,
//! `constants.go`).
//!
//! A namespace carries up to six labels:
//! `pod-security.kubernetes.io/{enforce,audit,warn}` (a [`Level`]) and
//! `pod-security.kubernetes.io/{enforce,audit,warn}-version` (a [`Version`]).
//! A missing label falls back to the admission configuration's default,
//! which upstream (and we) default to `privileged:latest` for all three
//! modes.

use std::collections::BTreeMap;
use std::fmt;

/// Label selecting the enforce level (`pod-security.kubernetes.io/enforce`).
pub const ENFORCE_LEVEL_LABEL: &str = "pod-security.kubernetes.io/enforce";
/// Label pinning the enforce policy version.
pub const ENFORCE_VERSION_LABEL: &str = "pod-security.kubernetes.io/enforce-version";
/// Label selecting the audit level.
pub const AUDIT_LEVEL_LABEL: &str = "pod-security.kubernetes.io/audit";
/// Label pinning the audit policy version.
pub const AUDIT_VERSION_LABEL: &str = "pod-security.kubernetes.io/audit-version";
/// Label selecting the warn level.
pub const WARN_LEVEL_LABEL: &str = "pod-security.kubernetes.io/warn";
/// Label pinning the warn policy version.
pub const WARN_VERSION_LABEL: &str = "pod-security.kubernetes.io/warn-version";

/// The newest policy version any 1.33 check distinguishes (`sysctls` gained
/// its last revision at v1.32). Upstream's registry clamps every newer
/// version, `latest` included, to this one (`registry.go`, `maxVersion`), so
/// `latest`, `v1.32`, `v1.33` and `v1.99` all evaluate identically.
pub const MAX_POLICY_MINOR: u64 = 32;

/// A Pod Security Standards level, from least to most restrictive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Level {
    /// Unrestricted: no checks run.
    #[default]
    Privileged,
    /// Prevents known privilege escalations; minimally restrictive.
    Baseline,
    /// Hardening best practices; baseline plus the restricted checks.
    Restricted,
}

impl Level {
    /// The label value (`privileged`, `baseline`, `restricted`).
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Privileged => "privileged",
            Level::Baseline => "baseline",
            Level::Restricted => "restricted",
        }
    }

    /// Parses a label value. Exact, case-sensitive match as upstream's
    /// `ParseLevel`; the error text is upstream's.
    pub fn parse(s: &str) -> Result<Level, String> {
        match s {
            "privileged" => Ok(Level::Privileged),
            "baseline" => Ok(Level::Baseline),
            "restricted" => Ok(Level::Restricted),
            _ => Err("must be one of privileged, baseline, restricted".to_string()),
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A policy version: `latest` or `v1.N` (upstream only has major 1).
///
/// Ordering: `v1.N` by `N`, `latest` newer than every `v1.N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Version {
    /// `v1.N`.
    V1(u64),
    /// `latest`: the newest checks this implementation knows.
    #[default]
    Latest,
}

impl Version {
    /// Parses `latest` or `v1.N` as upstream's `ParseVersion`
    /// (regexp `^v1\.([0-9]|[1-9][0-9]*)$`: no leading zeros, no sign, no
    /// patch); the error text is upstream's.
    pub fn parse(s: &str) -> Result<Version, String> {
        let invalid = || r#"must be "latest" or "v1.x""#.to_string();
        if s == "latest" {
            return Ok(Version::Latest);
        }
        let digits = s.strip_prefix("v1.").ok_or_else(invalid)?;
        if digits.is_empty()
            || !digits.bytes().all(|b| b.is_ascii_digit())
            || (digits.len() > 1 && digits.starts_with('0'))
        {
            return Err(invalid());
        }
        // Go's strconv.Atoi fails past int64; so do we.
        match digits.parse::<u64>() {
            Ok(n) if n <= i64::MAX as u64 => Ok(Version::V1(n)),
            _ => Err(invalid()),
        }
    }

    /// The minor version the checks are evaluated at: `latest` and anything
    /// newer than [`MAX_POLICY_MINOR`] clamp to it, as upstream's registry.
    pub fn effective_minor(self) -> u64 {
        match self {
            Version::Latest => MAX_POLICY_MINOR,
            Version::V1(n) => n.min(MAX_POLICY_MINOR),
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Version::Latest => f.write_str("latest"),
            Version::V1(n) => write!(f, "v1.{n}"),
        }
    }
}

/// A level at a version (upstream's `LevelVersion`), e.g.
/// `restricted:latest`, `baseline:v1.25`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Policy {
    /// The level whose checks run.
    pub level: Level,
    /// The policy version the checks are taken from.
    pub version: Version,
}

impl Policy {
    /// A policy at `level` and `version`.
    pub fn new(level: Level, version: Version) -> Policy {
        Policy { level, version }
    }

    /// `level` at `latest`.
    pub fn latest(level: Level) -> Policy {
        Policy::new(level, Version::Latest)
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.level, self.version)
    }
}

/// One invalid pod-security label, as upstream's
/// `field.Invalid(metadata.labels[<label>], value, detail)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelError {
    /// The label key, e.g. `pod-security.kubernetes.io/enforce`.
    pub label: &'static str,
    /// The rejected value.
    pub value: String,
    /// Why (upstream's text, e.g. `must be one of privileged, baseline, restricted`).
    pub detail: String,
}

impl LabelError {
    /// The field path of the error: `metadata.labels[<label>]`.
    pub fn field(&self) -> String {
        format!("metadata.labels[{}]", self.label)
    }
}

impl fmt::Display for LabelError {
    /// `metadata.labels[<label>]: Invalid value: "<value>": <detail>`, the
    /// text of upstream's `field.Error` (the value quoted as Go's `%q`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: Invalid value: {}: {}",
            self.field(),
            crate::checks::go_quote(&self.value),
            self.detail
        )
    }
}

/// The three policies of a namespace (upstream's `api.Policy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct NamespacePolicies {
    /// Violations reject the pod (pods only, never workload templates).
    pub enforce: Policy,
    /// Violations are recorded as an audit annotation.
    pub audit: Policy,
    /// Violations are returned as warnings to the client.
    pub warn: Policy,
}

impl NamespacePolicies {
    /// Policies from a namespace's labels over the default
    /// `privileged:latest` for every mode; any invalid label value is an
    /// error, one message per bad label (see [`LabelError`]'s `Display`).
    /// This is what upstream applies when a namespace is created (an invalid
    /// label rejects the namespace with `422 Invalid`).
    pub fn from_labels(
        labels: &BTreeMap<String, String>,
    ) -> Result<NamespacePolicies, Vec<String>> {
        let (policies, errors) = Self::resolve(labels, NamespacePolicies::default());
        if errors.is_empty() {
            Ok(policies)
        } else {
            Err(errors.iter().map(ToString::to_string).collect())
        }
    }

    /// Upstream's `PolicyToEvaluate`: always yields a usable policy, plus the
    /// label errors. A label is applied over `defaults` only when present.
    /// On an invalid value: an invalid enforce level becomes `restricted`
    /// (fail closed), invalid audit/warn levels become `privileged` (fail
    /// open), an invalid version becomes `latest`. Pod admission in a
    /// namespace with bad labels evaluates this fallback policy (upstream
    /// records the error as an audit annotation `error`: `Failed to parse
    /// policy: ...`).
    pub fn resolve(
        labels: &BTreeMap<String, String>,
        defaults: NamespacePolicies,
    ) -> (NamespacePolicies, Vec<LabelError>) {
        let mut p = defaults;
        let mut errors = Vec::new();
        let mut level = |label: &'static str, slot: &mut Level, on_error: Level| {
            if let Some(value) = labels.get(label) {
                match Level::parse(value) {
                    Ok(l) => *slot = l,
                    Err(detail) => {
                        *slot = on_error;
                        errors.push(LabelError {
                            label,
                            value: value.clone(),
                            detail,
                        });
                    }
                }
            }
        };
        level(ENFORCE_LEVEL_LABEL, &mut p.enforce.level, Level::Restricted);
        level(AUDIT_LEVEL_LABEL, &mut p.audit.level, Level::Privileged);
        level(WARN_LEVEL_LABEL, &mut p.warn.level, Level::Privileged);
        let mut version = |label: &'static str, slot: &mut Version| {
            if let Some(value) = labels.get(label) {
                match Version::parse(value) {
                    Ok(v) => *slot = v,
                    Err(detail) => {
                        *slot = Version::Latest;
                        errors.push(LabelError {
                            label,
                            value: value.clone(),
                            detail,
                        });
                    }
                }
            }
        };
        version(ENFORCE_VERSION_LABEL, &mut p.enforce.version);
        version(AUDIT_VERSION_LABEL, &mut p.audit.version);
        version(WARN_VERSION_LABEL, &mut p.warn.version);
        // Upstream reports errors in label order enforce, enforce-version,
        // audit, audit-version, warn, warn-version.
        let order = [
            ENFORCE_LEVEL_LABEL,
            ENFORCE_VERSION_LABEL,
            AUDIT_LEVEL_LABEL,
            AUDIT_VERSION_LABEL,
            WARN_LEVEL_LABEL,
            WARN_VERSION_LABEL,
        ];
        errors.sort_by_key(|e| order.iter().position(|l| *l == e.label));
        (p, errors)
    }

    /// True when no mode checks anything (upstream short-circuits these
    /// namespaces before decoding the pod).
    pub fn fully_privileged(&self) -> bool {
        self.enforce.level == Level::Privileged
            && self.audit.level == Level::Privileged
            && self.warn.level == Level::Privileged
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_version_table() {
        let cases: &[(&str, Result<Version, ()>)] = &[
            ("latest", Ok(Version::Latest)),
            ("v1.0", Ok(Version::V1(0))),
            ("v1.25", Ok(Version::V1(25))),
            ("v1.10000", Ok(Version::V1(10000))),
            ("v1.01", Err(())),
            ("v1", Err(())),
            ("v1.", Err(())),
            ("1.25", Err(())),
            ("v2.0", Err(())),
            ("v1.25.0", Err(())),
            ("v1.-1", Err(())),
            ("Latest", Err(())),
            ("", Err(())),
            ("v1.99999999999999999999", Err(())),
        ];
        for (input, want) in cases {
            let got = Version::parse(input).map_err(|_| ());
            assert_eq!(&got, want, "{input}");
        }
    }

    #[test]
    fn version_display_and_clamp() {
        assert_eq!(Version::V1(25).to_string(), "v1.25");
        assert_eq!(Version::Latest.to_string(), "latest");
        assert_eq!(Version::Latest.effective_minor(), MAX_POLICY_MINOR);
        assert_eq!(Version::V1(99).effective_minor(), MAX_POLICY_MINOR);
        assert_eq!(Version::V1(19).effective_minor(), 19);
        assert!(Version::V1(1000) < Version::Latest);
        assert_eq!(
            Policy::new(Level::Baseline, Version::V1(25)).to_string(),
            "baseline:v1.25"
        );
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    type LabelCase<'a> = (
        &'a [(&'a str, &'a str)],
        Result<NamespacePolicies, Vec<&'a str>>,
    );

    #[test]
    fn from_labels_table() {
        let r = Policy::latest(Level::Restricted);
        let p = Policy::latest(Level::Privileged);
        let cases: Vec<LabelCase<'_>> = vec![
            (&[], Ok(NamespacePolicies::default())),
            (
                &[("unrelated", "x"), (ENFORCE_LEVEL_LABEL, "restricted")],
                Ok(NamespacePolicies {
                    enforce: r,
                    audit: p,
                    warn: p,
                }),
            ),
            (
                &[
                    (ENFORCE_LEVEL_LABEL, "baseline"),
                    (ENFORCE_VERSION_LABEL, "v1.25"),
                    (WARN_LEVEL_LABEL, "restricted"),
                    (AUDIT_VERSION_LABEL, "v1.30"),
                ],
                Ok(NamespacePolicies {
                    enforce: Policy::new(Level::Baseline, Version::V1(25)),
                    audit: Policy::new(Level::Privileged, Version::V1(30)),
                    warn: r,
                }),
            ),
            (
                &[
                    (WARN_VERSION_LABEL, "v1.x"),
                    (ENFORCE_LEVEL_LABEL, "Restricted"),
                ],
                Err(vec![
                    r#"metadata.labels[pod-security.kubernetes.io/enforce]: Invalid value: "Restricted": must be one of privileged, baseline, restricted"#,
                    r#"metadata.labels[pod-security.kubernetes.io/warn-version]: Invalid value: "v1.x": must be "latest" or "v1.x""#,
                ]),
            ),
        ];
        for (input, want) in cases {
            let got = NamespacePolicies::from_labels(&labels(input));
            let want = want.map_err(|v| v.into_iter().map(String::from).collect::<Vec<_>>());
            assert_eq!(got, want, "{input:?}");
        }
    }

    #[test]
    fn resolve_falls_back_like_upstream() {
        let (p, errs) = NamespacePolicies::resolve(
            &labels(&[
                (ENFORCE_LEVEL_LABEL, "bogus"),
                (AUDIT_LEVEL_LABEL, "bogus"),
                (WARN_LEVEL_LABEL, "bogus"),
                (ENFORCE_VERSION_LABEL, "bogus"),
            ]),
            NamespacePolicies {
                enforce: Policy::new(Level::Baseline, Version::V1(20)),
                audit: Policy::latest(Level::Baseline),
                warn: Policy::latest(Level::Baseline),
            },
        );
        assert_eq!(errs.len(), 4);
        assert_eq!(p.enforce, Policy::latest(Level::Restricted));
        assert_eq!(p.audit.level, Level::Privileged);
        assert_eq!(p.warn.level, Level::Privileged);
    }
}
