//! Percentiles, medians and the results report.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Latency samples in microseconds.
#[derive(Debug, Default, Clone)]
pub struct Samples(Vec<u32>);

impl Samples {
    pub fn push(&mut self, micros: u128) {
        self.0.push(u32::try_from(micros).unwrap_or(u32::MAX));
    }

    pub fn extend(&mut self, other: Samples) {
        self.0.extend(other.0);
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Nearest-rank percentile in milliseconds (`None` without samples).
    pub fn percentile_ms(&mut self, p: f64) -> Option<f64> {
        if self.0.is_empty() {
            return None;
        }
        self.0.sort_unstable();
        let rank = ((p / 100.0) * self.0.len() as f64).ceil() as usize;
        let index = rank.clamp(1, self.0.len()) - 1;
        Some(f64::from(self.0[index]) / 1000.0)
    }
}

/// Median of the values that are present.
pub fn median(values: impl IntoIterator<Item = Option<f64>>) -> Option<f64> {
    let mut v: Vec<f64> = values.into_iter().flatten().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    Some(if v.len() % 2 == 1 { v[mid] } else { (v[mid - 1] + v[mid]) / 2.0 })
}

/// Error messages counted by kind, with one example message per kind.
#[derive(Debug, Default, Clone)]
pub struct Errors {
    pub counts: BTreeMap<String, u64>,
    pub examples: BTreeMap<String, String>,
}

impl Errors {
    pub fn add(&mut self, kind: impl Into<String>) {
        let kind: String = kind.into().chars().take(200).collect();
        *self.counts.entry(kind).or_default() += 1;
    }

    pub fn add_example(&mut self, kind: impl Into<String>, example: impl Into<String>) {
        let kind: String = kind.into().chars().take(200).collect();
        self.examples.entry(kind.clone()).or_insert_with(|| example.into().chars().take(300).collect());
        *self.counts.entry(kind).or_default() += 1;
    }

    pub fn merge(&mut self, other: &Errors) {
        for (k, v) in &other.counts {
            *self.counts.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &other.examples {
            self.examples.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }

    pub fn total(&self) -> u64 {
        self.counts.values().sum()
    }

    pub fn summary(&self) -> String {
        self.counts
            .iter()
            .take(4)
            .map(|(k, v)| match self.examples.get(k) {
                Some(e) if e != k => format!("{v}× {k} (e.g. `{}`)", e.replace('`', "'")),
                _ => format!("{v}× {k}"),
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Fail,
    Info,
}

pub struct Row {
    pub scenario: &'static str,
    pub metric: String,
    pub result: String,
    pub target: String,
    pub verdict: Verdict,
}

/// Everything the run prints at the end.
#[derive(Default)]
pub struct Report {
    pub header: String,
    pub rows: Vec<Row>,
    /// Markdown sections with the detailed figures.
    pub details: Vec<String>,
    /// Server misbehaviour seen during the run.
    pub problems: Vec<String>,
}

impl Report {
    pub fn info(&mut self, scenario: &'static str, metric: impl Into<String>, result: impl Into<String>) {
        self.rows.push(Row { scenario, metric: metric.into(), result: result.into(), target: String::new(), verdict: Verdict::Info });
    }

    /// A figure with a target: `pass` is `None` when it could not be measured.
    pub fn check(&mut self, scenario: &'static str, metric: impl Into<String>, result: impl Into<String>, target: impl Into<String>, pass: Option<bool>) {
        let verdict = match pass {
            Some(true) => Verdict::Pass,
            Some(false) | None => Verdict::Fail,
        };
        self.rows.push(Row { scenario, metric: metric.into(), result: result.into(), target: target.into(), verdict });
    }

    pub fn problem(&mut self, text: impl Into<String>) {
        let text = text.into();
        eprintln!("apibench: PROBLEM: {text}");
        self.problems.push(text);
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{}", self.header);
        let _ = writeln!(out, "| scenario | metric | result | target | status |");
        let _ = writeln!(out, "|---|---|---|---|---|");
        for row in &self.rows {
            let status = match row.verdict {
                Verdict::Pass => "PASS",
                Verdict::Fail => "**FAIL**",
                Verdict::Info => "",
            };
            let _ = writeln!(out, "| {} | {} | {} | {} | {} |", row.scenario, row.metric, row.result, row.target, status);
        }
        for section in &self.details {
            let _ = writeln!(out, "\n{section}");
        }
        let _ = writeln!(out, "\n### Server problems observed\n");
        if self.problems.is_empty() {
            let _ = writeln!(out, "None: no failed requests, crashes, hangs, cut-off watches or WARN/ERROR log lines.");
        }
        for p in &self.problems {
            let _ = writeln!(out, "- {p}");
        }
        out
    }
}

pub fn ms(value: Option<f64>) -> String {
    match value {
        None => "n/a".into(),
        Some(v) if v < 10.0 => format!("{v:.2} ms"),
        Some(v) if v < 100.0 => format!("{v:.1} ms"),
        Some(v) => format!("{v:.0} ms"),
    }
}

pub fn rate(value: Option<f64>) -> String {
    match value {
        None => "n/a".into(),
        Some(v) => format!("{}/s", thousands(v.round() as u64)),
    }
}

pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let head = match digits.len() % 3 {
        0 => 3.min(digits.len()),
        h => h,
    };
    let (first, rest) = digits.split_at(head);
    let mut out = first.to_string();
    for group in rest.as_bytes().chunks(3) {
        out.push(',');
        out.push_str(&String::from_utf8_lossy(group));
    }
    out
}

/// Kibibytes as decimal megabytes (the unit of the targets).
pub fn mb(kib: u64) -> f64 {
    kib as f64 * 1024.0 / 1e6
}
