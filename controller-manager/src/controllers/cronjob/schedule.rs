//! Cron schedules as upstream reads them (`robfig/cron/v3`
//! `ParseStandard`): five fields (minute, hour, day of month, month, day
//! of week) with `*`, `?`, lists, ranges, steps (`*/5`, `1-30/2`, `5/15`),
//! month and weekday names, and the descriptors `@yearly`/`@annually`,
//! `@monthly`, `@weekly`, `@daily`/`@midnight`, `@hourly`. Day of month and
//! day of week combine with OR when both are restricted, AND otherwise.
//!
//! Times are evaluated in an IANA time zone with `jiff` (the workspace's
//! time library, which k8s-openapi uses too), so no second date-time crate
//! is needed. Wall-clock times skipped by a DST change do not fire; a
//! repeated wall-clock time fires once (the earlier instant), as robfig.

use k8s_openapi::jiff::civil::{Date, DateTime};
use k8s_openapi::jiff::tz::TimeZone;
use k8s_openapi::jiff::{Timestamp, ToSpan, Zoned};

/// A parsed schedule: one bit set per allowed value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    minute: u64,
    hour: u64,
    dom: u64,
    month: u64,
    dow: u64,
    /// Day of month or day of week was `*`/`?` (AND semantics).
    dom_star: bool,
    dow_star: bool,
}

const MONTHS: [&str; 12] = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
const DAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

fn value(s: &str, names: &[&str], offset: u32) -> Result<u32, String> {
    if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(s)) {
        return Ok(u32::try_from(i).unwrap_or(0) + offset);
    }
    s.parse::<u32>().map_err(|_| format!("failed to parse int from {s}"))
}

/// One field: returns the bit set and whether it was a plain star.
fn field(expr: &str, min: u32, max: u32, names: &[&str], name_offset: u32) -> Result<(u64, bool), String> {
    let mut bits = 0u64;
    let mut star = false;
    for part in expr.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (r, Some(s.parse::<u32>().map_err(|_| format!("failed to parse int from {s}"))?)),
            None => (part, None),
        };
        let (lo, hi, is_star) = if range == "*" || range == "?" {
            (min, max, true)
        } else if let Some((a, b)) = range.split_once('-') {
            (value(a, names, name_offset)?, value(b, names, name_offset)?, false)
        } else {
            let v = value(range, names, name_offset)?;
            (v, if step.is_some() { max } else { v }, false)
        };
        let step = step.unwrap_or(1);
        if step == 0 {
            return Err(format!("step of range should be a positive number: {part}"));
        }
        if lo < min || hi > max || lo > hi {
            return Err(format!("beginning of range ({lo}) beyond end of range ({hi}) or out of bounds ({min}-{max}): {part}"));
        }
        let mut v = lo;
        while v <= hi {
            // Day of week 7 is Sunday too.
            let bit = if names.len() == 7 { v % 7 } else { v };
            bits |= 1u64 << bit;
            v += step;
        }
        if is_star && step == 1 {
            star = true;
        }
    }
    Ok((bits, star))
}

impl Schedule {
    pub fn parse(spec: &str) -> Result<Schedule, String> {
        let spec = spec.trim();
        let expanded = match spec {
            "@yearly" | "@annually" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" | "@midnight" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            s if s.starts_with('@') => return Err(format!("unrecognized descriptor: {s}")),
            s => s,
        };
        if expanded.starts_with("TZ=") || expanded.starts_with("CRON_TZ=") {
            return Err("CRON_TZ or TZ used in schedule is not supported, please use .spec.timeZone".into());
        }
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(format!("expected exactly 5 fields, found {}: {spec}", fields.len()));
        }
        let (minute, _) = field(fields[0], 0, 59, &[], 0)?;
        let (hour, _) = field(fields[1], 0, 23, &[], 0)?;
        let (dom, dom_star) = field(fields[2], 1, 31, &[], 0)?;
        let (month, _) = field(fields[3], 1, 12, &MONTHS, 1)?;
        let (dow, dow_star) = field(fields[4], 0, 7, &DAYS, 0)?;
        Ok(Schedule { minute, hour, dom, month, dow, dom_star, dow_star })
    }

    fn day_matches(&self, date: Date) -> bool {
        let dom = self.dom & (1u64 << u32::try_from(date.day()).unwrap_or(0)) != 0;
        let dow = self.dow & (1u64 << u32::try_from(date.weekday().to_sunday_zero_offset()).unwrap_or(0)) != 0;
        if self.dom_star || self.dow_star {
            dom && dow
        } else {
            dom || dow
        }
    }

    fn has(bits: u64, v: i8) -> bool {
        v >= 0 && bits & (1u64 << u32::try_from(v).unwrap_or(0)) != 0
    }

    /// The first activation strictly after `after`, in `tz`; `None` when
    /// there is none within five years.
    pub fn next(&self, after: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        let start = after.to_zoned(tz.clone());
        // Start at the next whole minute.
        let mut t: DateTime = start.datetime().with().second(0).subsec_nanosecond(0).build().ok()?.checked_add(1.minute()).ok()?;
        let limit = t.year() + 5;
        while t.year() <= limit {
            if !Self::has(self.month, t.month()) {
                t = t.first_of_month().checked_add(1.month()).ok()?.with().hour(0).minute(0).build().ok()?;
                continue;
            }
            if !self.day_matches(t.date()) {
                t = t.date().checked_add(1.day()).ok()?.to_datetime(k8s_openapi::jiff::civil::Time::midnight());
                continue;
            }
            if !Self::has(self.hour, t.hour()) {
                t = t.with().minute(0).build().ok()?.checked_add(1.hour()).ok()?;
                continue;
            }
            if !Self::has(self.minute, t.minute()) {
                t = t.checked_add(1.minute()).ok()?;
                continue;
            }
            // A wall-clock time inside a DST gap does not exist: skip it.
            let zoned: Zoned = tz.to_ambiguous_zoned(t).earlier().ok()?;
            if zoned.datetime() == t && zoned.timestamp() > after {
                return Some(zoned.timestamp());
            }
            t = t.checked_add(1.minute()).ok()?;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap_or(Timestamp::UNIX_EPOCH)
    }

    fn next(spec: &str, after: &str, tz: &str) -> Option<String> {
        let tz = TimeZone::get(tz).unwrap_or(TimeZone::UTC);
        Schedule::parse(spec).ok()?.next(ts(after), &tz).map(|t| t.to_string())
    }

    #[test]
    fn next_table() {
        let cases = [
            ("*/5 * * * *", "2024-01-01T00:02:00Z", "UTC", Some("2024-01-01T00:05:00Z")),
            ("*/5 * * * *", "2024-01-01T00:05:00Z", "UTC", Some("2024-01-01T00:10:00Z")),
            ("0 * * * *", "2024-01-01T00:00:30Z", "UTC", Some("2024-01-01T01:00:00Z")),
            ("@hourly", "2024-01-01T10:59:59Z", "UTC", Some("2024-01-01T11:00:00Z")),
            ("@daily", "2024-01-01T10:00:00Z", "UTC", Some("2024-01-02T00:00:00Z")),
            ("@weekly", "2024-01-01T10:00:00Z", "UTC", Some("2024-01-07T00:00:00Z")),
            ("@monthly", "2024-01-31T10:00:00Z", "UTC", Some("2024-02-01T00:00:00Z")),
            ("@yearly", "2024-03-01T00:00:00Z", "UTC", Some("2025-01-01T00:00:00Z")),
            ("30 9 * * mon-fri", "2024-01-05T10:00:00Z", "UTC", Some("2024-01-08T09:30:00Z")),
            ("0 0 29 feb *", "2024-03-01T00:00:00Z", "UTC", Some("2028-02-29T00:00:00Z")),
            // dom OR dow when both restricted: the 13th or any Friday.
            ("0 0 13 * 5", "2024-01-01T00:00:00Z", "UTC", Some("2024-01-05T00:00:00Z")),
            ("0 0 1,15 * *", "2024-01-02T00:00:00Z", "UTC", Some("2024-01-15T00:00:00Z")),
            ("5/15 * * * *", "2024-01-01T00:21:00Z", "UTC", Some("2024-01-01T00:35:00Z")),
            ("0 0 * * 7", "2024-01-01T00:00:00Z", "UTC", Some("2024-01-07T00:00:00Z")),
            // Time zones: 09:00 in New York is 14:00 UTC in winter.
            ("0 9 * * *", "2024-01-01T00:00:00Z", "America/New_York", Some("2024-01-01T14:00:00Z")),
            // 02:30 does not exist on 2024-03-10 in New York: next day.
            ("30 2 * * *", "2024-03-10T00:00:00Z", "America/New_York", Some("2024-03-11T06:30:00Z")),
            ("0 0 31 2 *", "2024-01-01T00:00:00Z", "UTC", None),
        ];
        for (spec, after, tz, want) in cases {
            assert_eq!(next(spec, after, tz).as_deref(), want, "{spec} after {after} in {tz}");
        }
    }

    #[test]
    fn parse_errors() {
        for bad in ["* * * *", "61 * * * *", "* * * * mon-xyz", "*/0 * * * *", "@every 5m", "TZ=UTC * * * * *", "5-1 * * * *"] {
            assert!(Schedule::parse(bad).is_err(), "{bad}");
        }
        assert!(Schedule::parse("0 0 ? * *").is_ok());
    }
}
