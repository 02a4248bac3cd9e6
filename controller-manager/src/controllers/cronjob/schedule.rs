//! Cron schedules as upstream reads them (`robfig/cron/v3`
//! `ParseStandard`): five fields (minute, hour, day of month, month, day
//! of week) with `*`, `?`, lists, ranges, steps (`*/5`, `1-30/2`, `5/15`),
//! month and weekday names, and the descriptors `@yearly`/`@annually`,
//! `@monthly`, `@weekly`, `@daily`/`@midnight`, `@hourly`.
//!
//! Parsing and next-time search are the `croner` crate's (well kept, and
//! it evaluates in `jiff` time zones, the workspace's time library, so no
//! second date-time crate is needed); this module only pins it to the
//! standard five-field dialect and rejects what upstream rejects (`TZ=`,
//! `@every`, seconds, years).

use croner::parser::{CronParser, Seconds, Year};
use croner::Cron;
use k8s_openapi::jiff::tz::TimeZone;
use k8s_openapi::jiff::Timestamp;

/// A parsed schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    cron: Cron,
}

impl Schedule {
    pub fn parse(spec: &str) -> Result<Schedule, String> {
        let spec = spec.trim();
        if spec.starts_with("TZ=") || spec.starts_with("CRON_TZ=") {
            return Err("CRON_TZ or TZ used in schedule is not supported, please use .spec.timeZone".into());
        }
        if spec.starts_with('@') && !matches!(spec, "@yearly" | "@annually" | "@monthly" | "@weekly" | "@daily" | "@midnight" | "@hourly") {
            return Err(format!("unrecognized descriptor: {spec}"));
        }
        let fields = spec.split_whitespace().count();
        if !spec.starts_with('@') && fields != 5 {
            return Err(format!("expected exactly 5 fields, found {fields}: {spec}"));
        }
        let parser = CronParser::builder().seconds(Seconds::Disallowed).year(Year::Disallowed).sloppy_ranges(true).build();
        let cron = parser.parse(spec).map_err(|e| format!("{e}: {spec}"))?;
        Ok(Schedule { cron })
    }

    /// The first scheduled time strictly after `after`, evaluated in `tz`.
    /// A wall-clock time skipped by a DST change does not fire (croner
    /// would move it to the end of the gap; upstream's robfig skips it).
    pub fn next(&self, after: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        let mut from = after.to_zoned(tz.clone());
        for _ in 0..8 {
            let next = self.cron.find_next_occurrence(&from, false).ok()?;
            if self.cron.is_time_matching(&next).unwrap_or(false) {
                return Some(next.timestamp());
            }
            from = next;
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
