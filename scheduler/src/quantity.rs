//! `resource.Quantity` to integers, as upstream's `Quantity.Value()` (rounded
//! up to a whole unit) and `Quantity.MilliValue()` (rounded up to a milli
//! unit). Exact decimal arithmetic on `i128`; unparsable quantities count as 0
//! (the apiserver validates them, so this only guards against garbage).

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

/// `q.Value()`: whole units, rounded up.
pub fn value(q: &Quantity) -> i64 {
    scaled(&q.0, 0).unwrap_or(0)
}

/// `q.MilliValue()`: thousandths, rounded up.
pub fn milli_value(q: &Quantity) -> i64 {
    scaled(&q.0, 3).unwrap_or(0)
}

/// Parses `s` and returns `ceil(s * 10^extra_exp)`, saturated to `i64`.
pub fn scaled(s: &str, extra_exp: i32) -> Option<i64> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    let (negative, s) = match s.as_bytes()[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let num_end = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (number, suffix) = s.split_at(num_end);
    if number.is_empty() || number == "." {
        return None;
    }
    let (int_part, frac_part) = number.split_once('.').unwrap_or((number, ""));
    let digits = format!("{int_part}{frac_part}");
    if digits.len() > 30 {
        return None;
    }
    let mantissa: i128 = digits.parse().ok()?;
    // value = mantissa * 10^(exp10) * 2^(exp2)
    let mut exp10: i32 = extra_exp - frac_part.len() as i32;
    let mut exp2: u32 = 0;
    match suffix {
        "" => {}
        "n" => exp10 -= 9,
        "u" => exp10 -= 6,
        "m" => exp10 -= 3,
        "k" => exp10 += 3,
        "M" => exp10 += 6,
        "G" => exp10 += 9,
        "T" => exp10 += 12,
        "P" => exp10 += 15,
        "E" => exp10 += 18,
        "Ki" => exp2 = 10,
        "Mi" => exp2 = 20,
        "Gi" => exp2 = 30,
        "Ti" => exp2 = 40,
        "Pi" => exp2 = 50,
        "Ei" => exp2 = 60,
        other => {
            let rest = other.strip_prefix(['e', 'E'])?;
            let e: i32 = rest.parse().ok()?;
            exp10 += e;
        }
    }
    let mut v: i128 = mantissa.checked_mul(1i128.checked_shl(exp2)?)?;
    if exp10 >= 0 {
        for _ in 0..exp10 {
            v = v.checked_mul(10)?;
        }
    } else {
        let mut div: i128 = 1;
        for _ in 0..(-exp10) {
            div = div.checked_mul(10)?;
        }
        let q = v / div;
        v = if v % div != 0 { q + 1 } else { q };
    }
    let v = if negative { -v } else { v };
    Some(v.clamp(i64::MIN as i128, i64::MAX as i128) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_like_upstream() {
        let cases: &[(&str, i32, i64)] = &[
            ("100m", 3, 100),
            ("1", 3, 1000),
            ("1.5", 3, 1500),
            ("0.1", 3, 100),
            ("2Gi", 0, 2 << 30),
            ("500Mi", 0, 500 << 20),
            ("1k", 0, 1000),
            ("1e3", 0, 1000),
            ("1m", 0, 1),
            ("1500m", 0, 2),
            ("110", 0, 110),
            ("-1", 0, -1),
            ("x", 0, 0),
        ];
        for (s, e, want) in cases {
            assert_eq!(scaled(s, *e).unwrap_or(0), *want, "{s} at 10^{e}");
        }
    }
}
