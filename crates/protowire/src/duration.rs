//! Go's `time.Duration` text form (`Duration.String` / `time.ParseDuration`), the JSON
//! form of meta/v1 Duration.

const NANOS_PER_SECOND: u64 = 1_000_000_000;

/// Formats nanoseconds as Go does: `0s`, `1.5µs`, `300ms`, `1m30s`, `72h3m0.5s`.
pub(crate) fn format(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".to_owned();
    }
    let sign = if nanos < 0 { "-" } else { "" };
    let u = nanos.unsigned_abs();
    if u < NANOS_PER_SECOND {
        return if u < 1_000 {
            format!("{sign}{u}ns")
        } else if u < 1_000_000 {
            format!("{sign}{}µs", decimal(u, 3))
        } else {
            format!("{sign}{}ms", decimal(u, 6))
        };
    }
    let seconds = decimal(u % (60 * NANOS_PER_SECOND), 9);
    let minutes_total = u / (60 * NANOS_PER_SECOND);
    if minutes_total == 0 {
        return format!("{sign}{seconds}s");
    }
    let (hours, minutes) = (minutes_total / 60, minutes_total % 60);
    if hours == 0 {
        format!("{sign}{minutes}m{seconds}s")
    } else {
        format!("{sign}{hours}h{minutes}m{seconds}s")
    }
}

/// `value / 10^digits` with the fraction written only as far as it is non-zero.
fn decimal(value: u64, digits: u32) -> String {
    let scale = 10u64.pow(digits);
    let (int, frac) = (value / scale, value % scale);
    if frac == 0 {
        return int.to_string();
    }
    let frac = format!("{frac:0width$}", width = digits as usize);
    format!("{int}.{}", frac.trim_end_matches('0'))
}

/// Parses a Go duration string (`"1h2m3.5s"`, `"-300ms"`, `"0"`) into nanoseconds.
pub(crate) fn parse(text: &str) -> Result<i64, String> {
    let invalid = || format!("invalid duration {text:?}");
    let (negative, mut rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let int_part = &rest[..int_len];
        rest = &rest[int_len..];
        let mut frac_part = "";
        if let Some(after_dot) = rest.strip_prefix('.') {
            let frac_len = after_dot.bytes().take_while(u8::is_ascii_digit).count();
            frac_part = &after_dot[..frac_len];
            rest = &after_dot[frac_len..];
        }
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(invalid());
        }
        let unit_len = rest
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit: u128 = match &rest[..unit_len] {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "" => return Err(format!("missing unit in duration {text:?}")),
            other => return Err(format!("unknown unit {other:?} in duration {text:?}")),
        };
        rest = &rest[unit_len..];
        let int: u128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().map_err(|_| invalid())?
        };
        let mut value = int.checked_mul(unit).ok_or_else(invalid)?;
        // Fractions beyond nanosecond precision are truncated, as Go does.
        let mut scale = unit;
        for digit in frac_part.bytes() {
            scale /= 10;
            if scale == 0 {
                break;
            }
            value += u128::from(digit - b'0') * scale;
        }
        total = total.checked_add(value).ok_or_else(invalid)?;
    }
    let limit = if negative {
        1u128 << 63
    } else {
        (1u128 << 63) - 1
    };
    if total > limit {
        return Err(invalid());
    }
    let magnitude = i128::try_from(total).map_err(|_| invalid())?;
    i64::try_from(if negative { -magnitude } else { magnitude }).map_err(|_| invalid())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn formats_like_go() {
        let cases = [
            (0, "0s"),
            (1, "1ns"),
            (1_100, "1.1µs"),
            (2_200_000, "2.2ms"),
            (3_300_000_000, "3.3s"),
            (
                4 * 60 * NANOS_PER_SECOND as i64 + 5 * NANOS_PER_SECOND as i64,
                "4m5s",
            ),
            (3_600 * NANOS_PER_SECOND as i64, "1h0m0s"),
            (-1_500_000_000, "-1.5s"),
            (i64::MAX, "2562047h47m16.854775807s"),
            (i64::MIN, "-2562047h47m16.854775808s"),
        ];
        for (nanos, text) in cases {
            assert_eq!(format(nanos), text, "{nanos}");
            assert_eq!(parse(text), Ok(nanos), "{text}");
        }
    }

    #[test]
    fn parses_go_forms() {
        assert_eq!(parse("1h30m"), Ok(5_400 * NANOS_PER_SECOND as i64));
        assert_eq!(parse(".5s"), Ok(500_000_000));
        assert_eq!(parse("0"), Ok(0));
        assert_eq!(parse("+2us"), Ok(2_000));
        for bad in ["", "1", "s", "1x", "-", "1.s.", "9999999999h"] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
