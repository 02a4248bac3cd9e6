//! The in-tree plugins (upstream `framework/plugins`), one file each, and
//! the registry mapping their names to constructors.

pub mod default_binder;
pub mod default_preemption;
pub mod helper;
pub mod image_locality;
pub mod inter_pod_affinity;
pub mod node_affinity;
pub mod node_name;
pub mod node_ports;
pub mod node_resources_balanced;
pub mod node_resources_fit;
pub mod node_unschedulable;
pub mod pod_topology_spread;
pub mod priority_sort;
pub mod spread_index;
pub mod taint_toleration;
pub mod volume_binding;
pub mod volume_restrictions;

use crate::framework::Registry;

/// Every in-tree plugin by name.
pub fn in_tree_registry() -> Registry {
    let mut r = Registry::new();
    r.register(priority_sort::NAME, priority_sort::new);
    r.register(node_unschedulable::NAME, node_unschedulable::new);
    r.register(node_name::NAME, node_name::new);
    r.register(taint_toleration::NAME, taint_toleration::new);
    r.register(node_affinity::NAME, node_affinity::new);
    r.register(node_ports::NAME, node_ports::new);
    r.register(node_resources_fit::NAME, node_resources_fit::new);
    r.register(node_resources_balanced::NAME, node_resources_balanced::new);
    r.register(volume_restrictions::NAME, volume_restrictions::new);
    r.register(volume_binding::NAME, volume_binding::new);
    r.register(pod_topology_spread::NAME, pod_topology_spread::new);
    r.register(inter_pod_affinity::NAME, inter_pod_affinity::new);
    r.register(image_locality::NAME, image_locality::new);
    r.register(default_preemption::NAME, default_preemption::new);
    r.register(default_binder::NAME, default_binder::new);
    r
}
