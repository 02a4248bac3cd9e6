//! `resource.Quantity` to integers, as upstream's `Quantity.Value()` (rounded
//! up to a whole unit) and `Quantity.MilliValue()` (rounded up to a milli
//! unit), on `apimachinery::quantity`. Unparsable quantities count as 0 (the
//! apiserver validates them, so this only guards against garbage).

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

fn saturate(v: i128) -> i64 {
    v.clamp(i64::MIN as i128, i64::MAX as i128) as i64
}

/// `q.Value()`: whole units, rounded up.
pub fn value(q: &Quantity) -> i64 {
    apimachinery::quantity::Quantity::parse(&q.0).map(|x| saturate(x.value())).unwrap_or(0)
}

/// `q.MilliValue()`: thousandths, rounded up.
pub fn milli_value(q: &Quantity) -> i64 {
    apimachinery::quantity::Quantity::parse(&q.0).map(|x| saturate(x.millis)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_like_upstream() {
        let q = |s: &str| Quantity(s.to_string());
        let cases: &[(&str, i64, i64)] = &[
            ("100m", 1, 100),
            ("1", 1, 1000),
            ("1.5", 2, 1500),
            ("0.1", 1, 100),
            ("2Gi", 2 << 30, (2i64 << 30) * 1000),
            ("1k", 1000, 1_000_000),
            ("1e3", 1000, 1_000_000),
            ("1500m", 2, 1500),
            ("-1", -1, -1000),
            ("x", 0, 0),
        ];
        for (s, want_value, want_milli) in cases {
            assert_eq!(value(&q(s)), *want_value, "{s}");
            assert_eq!(milli_value(&q(s)), *want_milli, "{s}");
        }
    }
}
