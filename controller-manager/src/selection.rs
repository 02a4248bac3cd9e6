//! `--controllers` semantics as upstream: a list of names, `*` for every
//! controller enabled by default, `-name` to disable one.

/// Whether `name` runs given the `--controllers` list.
pub fn is_enabled(selection: &[String], name: &str, on_by_default: bool) -> bool {
    let mut star = false;
    for item in selection {
        if item == name {
            return true;
        }
        if item.strip_prefix('-') == Some(name) {
            return false;
        }
        if item == "*" {
            star = true;
        }
    }
    star && on_by_default
}

/// Names in `selection` that are not controllers (for a clear error).
pub fn unknown<'a>(selection: &'a [String], known: &[&str]) -> Vec<&'a str> {
    selection
        .iter()
        .map(|s| s.trim_start_matches('-'))
        .filter(|s| *s != "*" && !known.contains(s))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selection_table() {
        let list = |s: &str| s.split(',').map(str::to_string).collect::<Vec<_>>();
        let cases = [
            ("*", "deployment", true, true),
            ("*", "ttl-after-finished", false, false),
            ("*,-deployment", "deployment", true, false),
            ("-deployment,*", "deployment", true, false),
            ("deployment", "deployment", true, true),
            ("deployment", "replicaset", true, false),
            ("*,horizontalpodautoscaling", "horizontalpodautoscaling", false, true),
        ];
        for (sel, name, default, want) in cases {
            assert_eq!(is_enabled(&list(sel), name, default), want, "{sel} {name}");
        }
        assert_eq!(unknown(&list("*,-deployment,nope"), &["deployment"]), vec!["nope"]);
    }
}
