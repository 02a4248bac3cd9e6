//! `controller-manager`: runs the selected controllers while holding the
//! `kube-controller-manager` lease.

fn main() {}
