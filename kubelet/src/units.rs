//! Parsing of the small value grammars the simulator reads from flags and
//! annotations: Go-style durations (`500ms`, `10s`, `1m30s`, `2h`; a bare
//! number is seconds) and Kubernetes resource quantities (`16Gi`, `4`,
//! `500m`, `1.5G`).

use std::time::Duration;

/// Why a value did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnitError {
    #[error("invalid duration {0:?}: expected e.g. 500ms, 10s, 1m30s, 2h or a number of seconds")]
    Duration(String),
    #[error("invalid quantity {0:?}: expected e.g. 4, 500m, 16Gi, 1.5G")]
    Quantity(String),
}

/// Parses a Go-style duration (`time.ParseDuration` units ns, us, ms, s, m,
/// h, concatenated), or a bare non-negative number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, UnitError> {
    let err = || UnitError::Duration(text.to_string());
    let s = text.trim();
    if s.is_empty() {
        return Err(err());
    }
    if let Ok(secs) = s.parse::<f64>() {
        return Duration::try_from_secs_f64(secs).map_err(|_| err());
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).ok_or_else(err)?;
        if num_len == 0 {
            return Err(err());
        }
        let value: f64 = rest[..num_len].parse().map_err(|_| err())?;
        rest = &rest[num_len..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(err()),
        };
        rest = &rest[unit_len..];
        total += Duration::try_from_secs_f64(value * scale).map_err(|_| err())?;
    }
    Ok(total)
}

/// Parses a resource quantity into its value in base units (bytes for
/// memory, cores for CPU), as `f64`: binary suffixes `Ki`..`Ei`, decimal
/// `k`..`E`, milli `m`, and plain numbers.
pub fn parse_quantity(text: &str) -> Result<f64, UnitError> {
    let err = || UnitError::Quantity(text.to_string());
    let s = text.trim();
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-')).unwrap_or(s.len());
    let (num, suffix) = s.split_at(split);
    let value: f64 = num.parse().map_err(|_| err())?;
    let scale = match suffix {
        "" => 1.0,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        _ => return Err(err()),
    };
    if value < 0.0 || !value.is_finite() {
        return Err(err());
    }
    Ok(value * scale)
}

/// Formats bytes as a whole number of KiB (`16283244Ki`), the form the
/// kubelet reports memory in.
pub fn format_kibibytes(bytes: f64) -> String {
    format!("{}Ki", (bytes / 1024.0).floor() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let cases: &[(&str, Option<Duration>)] = &[
            ("10s", Some(Duration::from_secs(10))),
            ("500ms", Some(Duration::from_millis(500))),
            ("1m30s", Some(Duration::from_secs(90))),
            ("2h", Some(Duration::from_secs(7200))),
            ("1.5s", Some(Duration::from_millis(1500))),
            ("5", Some(Duration::from_secs(5))),
            ("0", Some(Duration::ZERO)),
            ("", None),
            ("s", None),
            ("10x", None),
            ("-1s", None),
            ("-1", None),
        ];
        for (input, want) in cases {
            assert_eq!(parse_duration(input).ok(), *want, "{input}");
        }
    }

    #[test]
    fn quantities() {
        let cases: &[(&str, Option<f64>)] = &[
            ("4", Some(4.0)),
            ("500m", Some(0.5)),
            ("16Gi", Some(17179869184.0)),
            ("1.5G", Some(1.5e9)),
            ("100Mi", Some(104857600.0)),
            ("10X", None),
            ("Gi", None),
            ("-1", None),
        ];
        for (input, want) in cases {
            assert_eq!(parse_quantity(input).ok(), *want, "{input}");
        }
    }

    #[test]
    fn kibibytes() {
        assert_eq!(format_kibibytes(16.0 * 1024.0 * 1024.0 * 1024.0), "16777216Ki");
        assert_eq!(format_kibibytes(1500.0), "1Ki");
    }
}
