//! IPv4 ranges for simulated nodes and pods.
//!
//! A node's pod range is its `spec.podCIDR` when the node IPAM controller
//! has assigned one, otherwise the simulator carves node `i`'s range out of
//! `--pod-cidr-base` (the `i`-th subnet of `--node-cidr-mask-size`). Within a
//! range, [`IpPool`] hands out host addresses from `.2` up (`.1` is the
//! bridge/gateway on a real node, as with kubenet's `cbr0`) and takes them
//! back when pods go away. Node `InternalIP`s come from `--node-ip-base`,
//! loopback by default, so that nothing that follows a simulated node's
//! address ever leaves the machine.

use std::net::Ipv4Addr;

/// Why a range did not parse or does not fit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IpamError {
    #[error("invalid IPv4 CIDR {0:?}")]
    Cidr(String),
    #[error("{base} holds {available} node ranges of /{mask}, not {wanted}; pass a wider --pod-cidr-base (e.g. 10.0.0.0/8) or a longer --node-cidr-mask-size")]
    TooSmall { base: String, mask: u8, available: u64, wanted: u64 },
}

/// An IPv4 network: address (masked) and prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub network: u32,
    pub prefix: u8,
}

impl Cidr {
    /// Parses `a.b.c.d/n`; the host bits are cleared.
    pub fn parse(text: &str) -> Result<Cidr, IpamError> {
        let err = || IpamError::Cidr(text.to_string());
        let (addr, prefix) = text.trim().split_once('/').ok_or_else(err)?;
        let addr: Ipv4Addr = addr.parse().map_err(|_| err())?;
        let prefix: u8 = prefix.parse().map_err(|_| err())?;
        if prefix > 32 {
            return Err(err());
        }
        Ok(Cidr { network: u32::from(addr) & mask(prefix), prefix })
    }

    /// Number of addresses in the range.
    pub fn size(&self) -> u64 {
        1u64 << (32 - u32::from(self.prefix))
    }

    /// The `n`-th subnet of prefix length `prefix` inside this range.
    pub fn subnet(&self, prefix: u8, n: u64) -> Option<Cidr> {
        if prefix < self.prefix || prefix > 32 {
            return None;
        }
        let count = 1u64 << (prefix - self.prefix);
        if n >= count {
            return None;
        }
        let step = 1u64 << (32 - u32::from(prefix));
        let network = u64::from(self.network) + n * step;
        Some(Cidr { network: u32::try_from(network).ok()?, prefix })
    }

    /// The address at offset `n` from the network address.
    pub fn host(&self, n: u64) -> Option<Ipv4Addr> {
        if n >= self.size() {
            return None;
        }
        let addr = u64::from(self.network) + n;
        Some(Ipv4Addr::from(u32::try_from(addr).ok()?))
    }

    /// Whether `ip` is inside the range.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & mask(self.prefix) == self.network
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.network), self.prefix)
    }
}

fn mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix))
    }
}

/// Node `index`'s fallback pod range inside `base`; errors when `nodes`
/// ranges do not fit.
pub fn node_pod_cidr(base: Cidr, mask_size: u8, index: u64, nodes: u64) -> Result<Cidr, IpamError> {
    let available = if mask_size >= base.prefix && mask_size <= 32 { 1u64 << (mask_size - base.prefix) } else { 0 };
    let too_small = || IpamError::TooSmall { base: base.to_string(), mask: mask_size, available, wanted: nodes };
    if nodes > available {
        return Err(too_small());
    }
    base.subnet(mask_size, index).ok_or_else(too_small)
}

/// Node `index`'s `InternalIP`: offset `index + 1` in `base`.
pub fn node_ip(base: Cidr, index: u64) -> Option<Ipv4Addr> {
    base.host(index + 1)
}

/// Host addresses of one node's pod range: a bitmap of those in use.
#[derive(Debug, Clone)]
pub struct IpPool {
    cidr: Cidr,
    used: Vec<u64>,
    /// Where the next search starts, so that released addresses are not
    /// reused at once (as host-local IPAM does).
    cursor: u64,
}

/// The first offset handed out (`.0` is the network, `.1` the gateway).
const FIRST_HOST: u64 = 2;

impl IpPool {
    pub fn new(cidr: Cidr) -> IpPool {
        let words = usize::try_from(cidr.size().div_ceil(64)).unwrap_or(usize::MAX).min(1 << 16);
        IpPool { cidr, used: vec![0; words], cursor: FIRST_HOST }
    }

    pub fn cidr(&self) -> Cidr {
        self.cidr
    }

    fn capacity(&self) -> u64 {
        // Last address is the broadcast address; bitmap capped at 2^22 bits.
        (self.cidr.size().saturating_sub(1)).min(self.used.len() as u64 * 64)
    }

    fn bit(&self, n: u64) -> bool {
        let (w, b) = ((n / 64) as usize, n % 64);
        self.used.get(w).is_some_and(|word| word & (1 << b) != 0)
    }

    fn set(&mut self, n: u64, value: bool) {
        let (w, b) = ((n / 64) as usize, n % 64);
        if let Some(word) = self.used.get_mut(w) {
            if value {
                *word |= 1 << b;
            } else {
                *word &= !(1 << b);
            }
        }
    }

    /// A free address, or `None` when the range is full.
    pub fn allocate(&mut self) -> Option<Ipv4Addr> {
        let cap = self.capacity();
        if cap <= FIRST_HOST {
            return None;
        }
        let span = cap - FIRST_HOST;
        for step in 0..span {
            let n = FIRST_HOST + (self.cursor - FIRST_HOST + step) % span;
            if !self.bit(n) {
                self.set(n, true);
                self.cursor = FIRST_HOST + (n + 1 - FIRST_HOST) % span;
                return self.cidr.host(n);
            }
        }
        None
    }

    /// Marks an address already in use (a pod that kept its IP across a
    /// simulator restart). Addresses outside the range are ignored.
    pub fn reserve(&mut self, ip: Ipv4Addr) {
        if self.cidr.contains(ip) {
            self.set(u64::from(u32::from(ip) - self.cidr.network), true);
        }
    }

    /// Gives an address back.
    pub fn release(&mut self, ip: Ipv4Addr) {
        if self.cidr.contains(ip) {
            self.set(u64::from(u32::from(ip) - self.cidr.network), false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap_or(Ipv4Addr::UNSPECIFIED)
    }

    #[test]
    fn parse_cidrs() {
        let cases: &[(&str, Option<&str>)] = &[
            ("10.244.0.0/16", Some("10.244.0.0/16")),
            ("10.244.3.7/24", Some("10.244.3.0/24")),
            ("0.0.0.0/0", Some("0.0.0.0/0")),
            ("10.0.0.0", None),
            ("10.0.0.0/33", None),
            ("fd00::/64", None),
        ];
        for (input, want) in cases {
            assert_eq!(Cidr::parse(input).ok().map(|c| c.to_string()).as_deref(), *want, "{input}");
        }
    }

    #[test]
    fn node_ranges() {
        let base = Cidr::parse("10.244.0.0/16").unwrap_or(Cidr { network: 0, prefix: 0 });
        let cases: &[(u64, u64, Option<&str>)] = &[
            (0, 3, Some("10.244.0.0/24")),
            (2, 3, Some("10.244.2.0/24")),
            (255, 256, Some("10.244.255.0/24")),
            (0, 257, None),
        ];
        for (index, nodes, want) in cases {
            let got = node_pod_cidr(base, 24, *index, *nodes).ok().map(|c| c.to_string());
            assert_eq!(got.as_deref(), *want, "index {index} of {nodes}");
        }
        let wide = Cidr::parse("10.0.0.0/8").unwrap_or(base);
        assert_eq!(node_pod_cidr(wide, 24, 4999, 5000).ok().map(|c| c.to_string()).as_deref(), Some("10.19.135.0/24"));
    }

    #[test]
    fn node_ips() {
        let base = Cidr::parse("127.1.0.0/16").unwrap_or(Cidr { network: 0, prefix: 0 });
        assert_eq!(node_ip(base, 0), Some(ip("127.1.0.1")));
        assert_eq!(node_ip(base, 300), Some(ip("127.1.1.45")));
        assert_eq!(node_ip(base, 70000), None);
    }

    #[test]
    fn pool_allocates_reserves_and_releases() {
        let cidr = Cidr::parse("10.244.1.0/29").unwrap_or(Cidr { network: 0, prefix: 0 });
        let mut pool = IpPool::new(cidr);
        pool.reserve(ip("10.244.1.3"));
        let got: Vec<_> = std::iter::from_fn(|| pool.allocate()).collect();
        // .0 network, .1 gateway, .3 reserved, .7 broadcast
        assert_eq!(got, vec![ip("10.244.1.2"), ip("10.244.1.4"), ip("10.244.1.5"), ip("10.244.1.6")]);
        pool.release(ip("10.244.1.4"));
        assert_eq!(pool.allocate(), Some(ip("10.244.1.4")));
        assert_eq!(pool.allocate(), None);
        pool.release(ip("192.168.0.1")); // outside: ignored
    }
}
