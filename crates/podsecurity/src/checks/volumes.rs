//! Volumes.
//!
//! - `hostPathVolumes` (baseline, v1.0+): no `hostPath` volumes.
//! - `restrictedVolumes` (restricted, v1.0+, overrides `hostPathVolumes`):
//!   only `configMap`, `csi`, `downwardAPI`, `emptyDir`, `ephemeral`,
//!   `image`, `persistentVolumeClaim`, `projected` and `secret` volumes.
//!   (`image` was allowed in 1.33 by patching the v1.0 check, so it is
//!   allowed at every pinned version, as upstream.)

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{PodSpec, Volume};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::{join_quote, pluralize, Forbidden};

pub(super) fn host_path_volumes(_: &ObjectMeta, spec: &PodSpec, _: u64) -> Option<Forbidden> {
    let bad: Vec<&str> = spec
        .volumes
        .iter()
        .flatten()
        .filter(|v| v.host_path.is_some())
        .map(|v| v.name.as_str())
        .collect();
    (!bad.is_empty()).then(|| {
        Forbidden::new(
            "hostPath volumes",
            format!(
                "{} {}",
                pluralize("volume", "volumes", bad.len()),
                join_quote(&bad)
            ),
        )
    })
}

fn allowed_in_restricted(v: &Volume) -> bool {
    v.config_map.is_some()
        || v.csi.is_some()
        || v.downward_api.is_some()
        || v.empty_dir.is_some()
        || v.ephemeral.is_some()
        || v.image.is_some()
        || v.persistent_volume_claim.is_some()
        || v.projected.is_some()
        || v.secret.is_some()
}

/// The name upstream reports for a restricted volume's type (first match
/// in upstream's order; `unknown` for a volume with no source at all).
fn restricted_type(v: &Volume) -> &'static str {
    let types: [(bool, &'static str); 21] = [
        (v.host_path.is_some(), "hostPath"),
        (v.gce_persistent_disk.is_some(), "gcePersistentDisk"),
        (v.aws_elastic_block_store.is_some(), "awsElasticBlockStore"),
        (v.git_repo.is_some(), "gitRepo"),
        (v.nfs.is_some(), "nfs"),
        (v.iscsi.is_some(), "iscsi"),
        (v.glusterfs.is_some(), "glusterfs"),
        (v.rbd.is_some(), "rbd"),
        (v.flex_volume.is_some(), "flexVolume"),
        (v.cinder.is_some(), "cinder"),
        (v.cephfs.is_some(), "cephfs"),
        (v.flocker.is_some(), "flocker"),
        (v.fc.is_some(), "fc"),
        (v.azure_file.is_some(), "azureFile"),
        (v.vsphere_volume.is_some(), "vsphereVolume"),
        (v.quobyte.is_some(), "quobyte"),
        (v.azure_disk.is_some(), "azureDisk"),
        (v.photon_persistent_disk.is_some(), "photonPersistentDisk"),
        (v.portworx_volume.is_some(), "portworxVolume"),
        (v.scale_io.is_some(), "scaleIO"),
        (v.storageos.is_some(), "storageos"),
    ];
    types
        .iter()
        .find(|(set, _)| *set)
        .map_or("unknown", |(_, name)| *name)
}

pub(super) fn restricted_volumes(_: &ObjectMeta, spec: &PodSpec, _: u64) -> Option<Forbidden> {
    let mut bad = Vec::new();
    let mut types = BTreeSet::new();
    for v in spec.volumes.iter().flatten() {
        if !allowed_in_restricted(v) {
            bad.push(v.name.as_str());
            types.insert(restricted_type(v));
        }
    }
    (!bad.is_empty()).then(|| {
        Forbidden::new(
            "restricted volume types",
            format!(
                "{} {} {} {} {}",
                pluralize("volume", "volumes", bad.len()),
                join_quote(&bad),
                pluralize("uses", "use", bad.len()),
                pluralize(
                    "restricted volume type",
                    "restricted volume types",
                    types.len()
                ),
                join_quote(&types)
            ),
        )
    })
}
