//! The names an API server's serving certificate must cover.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
#[error("invalid service CIDR {cidr:?}: {reason}")]
pub struct CidrError {
    pub cidr: String,
    pub reason: &'static str,
}

/// DNS and IP SANs for the API server certificate, as kubeadm computes
/// them: `localhost`, `kubernetes`, `kubernetes.default`,
/// `kubernetes.default.svc`, `kubernetes.default.svc.<cluster_domain>`, the
/// node host names; `127.0.0.1`, the given IPs and the `kubernetes`
/// Service's ClusterIP (the first IP of the service CIDR). Duplicates are
/// dropped, order is kept.
pub fn apiserver_sans(
    hostnames: &[String],
    ips: &[IpAddr],
    service_cidr_first_ip: IpAddr,
    cluster_domain: &str,
) -> (Vec<String>, Vec<IpAddr>) {
    let domain = cluster_domain.trim_matches('.');
    let mut dns: Vec<String> = vec![
        "localhost".into(),
        "kubernetes".into(),
        "kubernetes.default".into(),
        "kubernetes.default.svc".into(),
    ];
    if !domain.is_empty() {
        dns.push(format!("kubernetes.default.svc.{domain}"));
    }
    for h in hostnames {
        let h = h.trim().trim_end_matches('.').to_ascii_lowercase();
        if !h.is_empty() && !dns.contains(&h) {
            dns.push(h);
        }
    }
    let mut out_ips: Vec<IpAddr> = Vec::new();
    for ip in [IpAddr::V4(Ipv4Addr::LOCALHOST), service_cidr_first_ip]
        .iter()
        .chain(ips)
    {
        if !out_ips.contains(ip) {
            out_ips.push(*ip);
        }
    }
    (dns, out_ips)
}

/// The first usable IP of a CIDR (network address + 1), which Kubernetes
/// gives the `kubernetes` Service: `10.96.0.0/12` -> `10.96.0.1`.
pub fn service_cidr_first_ip(cidr: &str) -> Result<IpAddr, CidrError> {
    let err = |reason| CidrError {
        cidr: cidr.to_string(),
        reason,
    };
    let (addr, prefix) = cidr.trim().split_once('/').ok_or(err("missing /prefix"))?;
    let addr: IpAddr = addr.parse().map_err(|_| err("bad address"))?;
    let prefix: u32 = prefix.parse().map_err(|_| err("bad prefix length"))?;
    match addr {
        IpAddr::V4(a) => {
            if prefix > 30 {
                return Err(err("prefix too long to hold a service IP"));
            }
            let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
            let first = (u32::from(a) & mask).wrapping_add(1);
            Ok(IpAddr::V4(Ipv4Addr::from(first)))
        }
        IpAddr::V6(a) => {
            if prefix > 126 {
                return Err(err("prefix too long to hold a service IP"));
            }
            let mask = u128::MAX.checked_shl(128 - prefix).unwrap_or(0);
            let first = (u128::from(a) & mask).wrapping_add(1);
            Ok(IpAddr::V6(Ipv6Addr::from(first)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn sans_cover_everything_once() {
        let (dns, ips) = apiserver_sans(
            &[
                "Node-1".into(),
                "node-1.example.com.".into(),
                "localhost".into(),
            ],
            &[ip("192.168.1.10"), ip("127.0.0.1")],
            ip("10.96.0.1"),
            "cluster.local.",
        );
        assert_eq!(
            dns,
            [
                "localhost",
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.local",
                "node-1",
                "node-1.example.com",
            ]
        );
        assert_eq!(ips, [ip("127.0.0.1"), ip("10.96.0.1"), ip("192.168.1.10")]);
    }

    #[test]
    fn first_ip_of_cidr() {
        let cases = [
            ("10.96.0.0/12", Ok(ip("10.96.0.1"))),
            ("10.96.5.7/12", Ok(ip("10.96.0.1"))),
            ("172.16.0.0/16", Ok(ip("172.16.0.1"))),
            ("0.0.0.0/0", Ok(ip("0.0.0.1"))),
            ("fd00:10:96::/108", Ok(ip("fd00:10:96::1"))),
            ("10.0.0.0/31", Err("prefix too long to hold a service IP")),
            ("10.0.0.0", Err("missing /prefix")),
            ("10.0.0/8", Err("bad address")),
            ("10.0.0.0/x", Err("bad prefix length")),
        ];
        for (cidr, want) in cases {
            let got = service_cidr_first_ip(cidr).map_err(|e| e.reason);
            assert_eq!(got, want, "{cidr}");
        }
    }
}
