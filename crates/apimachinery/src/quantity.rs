//! Kubernetes resource quantities (`500m`, `2`, `1Gi`, `1e3`): exact parsing
//! into milli-units and upstream's canonical rendering, for admission
//! (LimitRanger, ResourceQuota) and anything that compares resources.

use std::fmt;

/// How a quantity was written, which decides how it is printed back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `k`, `M`, `G`, ... and `m`, or no suffix.
    DecimalSi,
    /// `Ki`, `Mi`, `Gi`, ...
    BinarySi,
    /// `1e3`, `2E6`.
    DecimalExponent,
}

/// An exact quantity in thousandths of a unit (`1` = 1000 milli-units).
/// Values finer than a milli-unit round up, as upstream's `MilliValue`.
#[derive(Debug, Clone, Copy)]
pub struct Quantity {
    pub millis: i128,
    pub format: Format,
}

impl PartialEq for Quantity {
    fn eq(&self, other: &Self) -> bool {
        self.millis == other.millis
    }
}
impl Eq for Quantity {}
impl PartialOrd for Quantity {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Quantity {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.millis.cmp(&other.millis)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuantityError(pub String);

impl fmt::Display for QuantityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$' (got {:?})", self.0)
    }
}

impl std::error::Error for QuantityError {}

const BINARY: [(&str, u32); 6] = [("Ki", 10), ("Mi", 20), ("Gi", 30), ("Ti", 40), ("Pi", 50), ("Ei", 60)];
const DECIMAL: [(&str, i32); 8] = [("n", -9), ("u", -6), ("m", -3), ("k", 3), ("M", 6), ("G", 9), ("T", 12), ("P", 15)];

impl Quantity {
    pub const ZERO: Quantity = Quantity { millis: 0, format: Format::DecimalSi };

    /// A whole number of units (e.g. pods, counts).
    pub fn from_units(units: i64) -> Quantity {
        Quantity { millis: units as i128 * 1000, format: Format::DecimalSi }
    }

    pub fn from_millis(millis: i128, format: Format) -> Quantity {
        Quantity { millis, format }
    }

    /// Parses `<number><suffix>`; the number may have a sign and a fraction.
    pub fn parse(text: &str) -> Result<Quantity, QuantityError> {
        let err = || QuantityError(text.to_string());
        let s = text.trim();
        let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-')).unwrap_or(s.len());
        let (number, suffix) = s.split_at(split);
        if number.is_empty() || number == "+" || number == "-" {
            return Err(err());
        }
        let (negative, digits) = match number.as_bytes()[0] {
            b'-' => (true, &number[1..]),
            b'+' => (false, &number[1..]),
            _ => (false, number),
        };
        if digits.is_empty() || digits.contains(['+', '-']) || digits.matches('.').count() > 1 || digits == "." {
            return Err(err());
        }
        let (int_part, frac_part) = digits.split_once('.').unwrap_or((digits, ""));
        // value = mantissa * 10^(-frac_len) * multiplier
        let mantissa: i128 = format!("{int_part}{frac_part}").parse().map_err(|_| err())?;
        let frac_len = frac_part.len() as i32;
        let (format, exp10, pow2) = if suffix.is_empty() {
            (Format::DecimalSi, 0, 0)
        } else if let Some((_, p)) = BINARY.iter().find(|(s, _)| *s == suffix) {
            (Format::BinarySi, 0, *p)
        } else if let Some((_, e)) = DECIMAL.iter().find(|(s, _)| *s == suffix) {
            (Format::DecimalSi, *e, 0)
        } else if suffix == "E" {
            (Format::DecimalSi, 18, 0)
        } else if let Some(exp) = suffix.strip_prefix(['e', 'E']) {
            (Format::DecimalExponent, exp.parse::<i32>().map_err(|_| err())?, 0)
        } else {
            return Err(err());
        };
        // millis = mantissa * 2^pow2 * 10^(exp10 - frac_len + 3), rounded up.
        let scaled = mantissa.checked_mul(1i128.checked_shl(pow2).ok_or_else(err)?).ok_or_else(err)?;
        let shift = exp10 - frac_len + 3;
        let millis = if shift >= 0 {
            scaled.checked_mul(10i128.checked_pow(shift as u32).ok_or_else(err)?).ok_or_else(err)?
        } else {
            let div = 10i128.checked_pow((-shift) as u32).ok_or_else(err)?;
            (scaled + div - 1) / div
        };
        Ok(Quantity { millis: if negative { -millis } else { millis }, format })
    }

    /// Whole units, rounded up (upstream `Value()`).
    pub fn value(&self) -> i128 {
        (self.millis + 999).div_euclid(1000)
    }

    pub fn is_zero(&self) -> bool {
        self.millis == 0
    }


    /// Upstream's canonical string: the largest suffix of the quantity's
    /// format that keeps the value exact (`1Gi`, `500m`, `2`, `1500M`).
    pub fn canonical(&self) -> String {
        let sign = if self.millis < 0 { "-" } else { "" };
        let m = self.millis.abs();
        if m == 0 {
            return "0".into();
        }
        if m % 1000 != 0 {
            return format!("{sign}{m}m");
        }
        let units = m / 1000;
        match self.format {
            Format::BinarySi => {
                for (suffix, p) in BINARY.iter().rev() {
                    let d = 1i128 << p;
                    if units % d == 0 {
                        return format!("{sign}{}{suffix}", units / d);
                    }
                }
                // Not a multiple of 1024: upstream falls back to decimal.
                Self::decimal(sign, units)
            }
            Format::DecimalSi => Self::decimal(sign, units),
            Format::DecimalExponent => {
                let mut e = 0;
                let mut u = units;
                while u % 10 == 0 && u != 0 {
                    u /= 10;
                    e += 1;
                }
                let e3 = e - e % 3;
                let u = units / 10i128.pow(e3);
                if e3 == 0 { format!("{sign}{u}") } else { format!("{sign}{u}e{e3}") }
            }
        }
    }

    fn decimal(sign: &str, units: i128) -> String {
        for (suffix, e) in [("E", 18u32), ("P", 15), ("T", 12), ("G", 9), ("M", 6), ("k", 3)] {
            let d = 10i128.pow(e);
            if units % d == 0 {
                return format!("{sign}{}{suffix}", units / d);
            }
        }
        format!("{sign}{units}")
    }
}

/// Sums keep the left operand's format.
impl std::ops::Add for Quantity {
    type Output = Quantity;
    fn add(self, other: Quantity) -> Quantity {
        Quantity { millis: self.millis + other.millis, format: self.format }
    }
}

impl std::ops::Sub for Quantity {
    type Output = Quantity;
    fn sub(self, other: Quantity) -> Quantity {
        Quantity { millis: self.millis - other.millis, format: self.format }
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.canonical())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn parse_and_render_table() {
        let cases = [
            ("500m", 500, "500m"),
            ("0.5", 500, "500m"),
            ("2", 2000, "2"),
            ("1Gi", 1_073_741_824_000, "1Gi"),
            ("1024Mi", 1_073_741_824_000, "1Gi"),
            ("1.5Gi", 1_610_612_736_000, "1536Mi"),
            ("128974848", 128_974_848_000, "128974848"),
            ("129M", 129_000_000_000, "129M"),
            ("1k", 1_000_000, "1k"),
            ("1e3", 1_000_000, "1e3"),
            ("100n", 1, "1m"),
            ("-1", -1000, "-1"),
            ("0", 0, "0"),
            ("+3", 3000, "3"),
            ("2E", 2_000_000_000_000_000_000_000, "2E"),
        ];
        for (text, millis, canonical) in cases {
            let q = Quantity::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(q.millis, millis, "{text}");
            assert_eq!(q.canonical(), canonical, "{text}");
        }
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["", "abc", "1.2.3", "1Qi", "--1", "1e", "."] {
            assert!(Quantity::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ordering_and_arithmetic() {
        let a = Quantity::parse("1").unwrap();
        let b = Quantity::parse("500m").unwrap();
        assert!(a > b);
        assert_eq!((a + b).canonical(), "1500m");
        assert_eq!((a - b).canonical(), "500m");
        assert_eq!(Quantity::parse("1500m").unwrap().value(), 2);
    }
}
