//! Pure CSR policy as upstream's `pkg/controller/certificates`: what each
//! built-in signer accepts, which kubelet client CSRs the approver
//! recognises, when the cleaner removes a CSR.

use std::time::Duration;

use pki::CsrRequest;

pub const KUBE_APISERVER_CLIENT: &str = "kubernetes.io/kube-apiserver-client";
pub const KUBE_APISERVER_CLIENT_KUBELET: &str = "kubernetes.io/kube-apiserver-client-kubelet";
pub const KUBELET_SERVING: &str = "kubernetes.io/kubelet-serving";
pub const NODES_GROUP: &str = "system:nodes";
pub const NODE_USER_PREFIX: &str = "system:node:";

/// The signers this controller-manager signs for.
pub fn is_built_in_signer(signer: &str) -> bool {
    matches!(signer, KUBE_APISERVER_CLIENT | KUBE_APISERVER_CLIENT_KUBELET | KUBELET_SERVING)
}

fn check_usages(usages: &[String], required: &str, allowed: &[&str]) -> Result<(), String> {
    if let Some(bad) = usages.iter().find(|u| !allowed.contains(&u.as_str())) {
        return Err(format!("usage {bad:?} is not allowed, allowed usages: {allowed:?}"));
    }
    if !usages.iter().any(|u| u == required) {
        return Err(format!("missing required usages: [{required:?}]"));
    }
    Ok(())
}

fn check_node_subject(csr: &CsrRequest) -> Result<(), String> {
    if csr.organizations != [NODES_GROUP] {
        return Err(format!("subject organization is not system:nodes: {:?}", csr.organizations));
    }
    if !csr.common_name.starts_with(NODE_USER_PREFIX) {
        return Err(format!("subject common name does not begin with system:node:: {:?}", csr.common_name));
    }
    Ok(())
}

/// Whether `signer` may sign this request (upstream's per-signer
/// validation); the error becomes the `Failed` condition's message.
pub fn validate_for_signer(signer: &str, csr: &CsrRequest, usages: &[String]) -> Result<(), String> {
    match signer {
        KUBE_APISERVER_CLIENT => check_usages(usages, "client auth", &["digital signature", "key encipherment", "client auth"]),
        KUBE_APISERVER_CLIENT_KUBELET => {
            check_node_subject(csr)?;
            if !csr.dns_names.is_empty() || !csr.emails.is_empty() || !csr.ip_addresses.is_empty() || !csr.uris.is_empty() {
                return Err("DNS, email, IP and URI subjectAltNames are not allowed".into());
            }
            check_usages(usages, "client auth", &["digital signature", "key encipherment", "client auth"])
        }
        KUBELET_SERVING => {
            check_node_subject(csr)?;
            if csr.dns_names.is_empty() && csr.ip_addresses.is_empty() {
                return Err("at least one DNS or IP subjectAltName is required".into());
            }
            if !csr.emails.is_empty() || !csr.uris.is_empty() {
                return Err("email and URI subjectAltNames are not allowed".into());
            }
            check_usages(usages, "server auth", &["digital signature", "key encipherment", "server auth"])
        }
        other => Err(format!("signer {other:?} is not handled by this controller")),
    }
}

/// How long a signed certificate lives: the request's `expirationSeconds`
/// capped by `--cluster-signing-duration`, at least 10 minutes.
pub fn certificate_duration(expiration_seconds: Option<i32>, max: Duration) -> Duration {
    match expiration_seconds {
        Some(s) if s > 0 => Duration::from_secs(s as u64).clamp(Duration::from_secs(600), max),
        _ => max,
    }
}

/// What the approver asks the authorizer before approving a kubelet client
/// CSR: the subresource of `certificatesigningrequests` the requester must
/// be allowed to `create`, and the approval message.
#[derive(Debug, PartialEq, Eq)]
pub struct ApprovalCheck {
    pub subresource: &'static str,
    pub message: &'static str,
}

/// `Some` for a kubelet client CSR the approver should consider: a node
/// renewing its own certificate (`selfnodeclient`) or a new node
/// bootstrapping (`nodeclient`).
pub fn approval_check(signer: &str, csr: &CsrRequest, usages: &[String], requester: &str) -> Option<ApprovalCheck> {
    if signer != KUBE_APISERVER_CLIENT_KUBELET || validate_for_signer(signer, csr, usages).is_err() {
        return None;
    }
    if csr.common_name == requester {
        return Some(ApprovalCheck {
            subresource: "selfnodeclient",
            message: "Auto approving self kubelet client certificate after SubjectAccessReview.",
        });
    }
    Some(ApprovalCheck { subresource: "nodeclient", message: "Auto approving kubelet client certificate after SubjectAccessReview." })
}

/// The state a CSR's conditions and certificate put it in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CsrState {
    Pending,
    Approved,
    Denied,
    Failed,
    Issued,
}

/// Upstream's cleaner: issued, denied and failed CSRs go after an hour,
/// pending ones after a day, approved-but-unissued ones after an hour.
pub fn expired(state: CsrState, age: Duration) -> bool {
    let hour = Duration::from_secs(3600);
    match state {
        CsrState::Pending => age > 24 * hour,
        CsrState::Approved | CsrState::Denied | CsrState::Failed | CsrState::Issued => age > hour,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csr(cn: &str, orgs: &[&str], dns: &[&str]) -> CsrRequest {
        CsrRequest {
            common_name: cn.into(),
            organizations: orgs.iter().map(|s| s.to_string()).collect(),
            dns_names: dns.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    fn usages(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn signer_validation_table() {
        let node = csr("system:node:n1", &["system:nodes"], &[]);
        let node_serving = csr("system:node:n1", &["system:nodes"], &["n1"]);
        let user = csr("jane", &["dev"], &[]);
        let client = usages(&["digital signature", "client auth"]);
        let serving = usages(&["digital signature", "key encipherment", "server auth"]);
        let cases = [
            (KUBE_APISERVER_CLIENT, &user, &client, true),
            (KUBE_APISERVER_CLIENT, &user, &serving, false),
            (KUBE_APISERVER_CLIENT_KUBELET, &node, &client, true),
            (KUBE_APISERVER_CLIENT_KUBELET, &user, &client, false),
            (KUBE_APISERVER_CLIENT_KUBELET, &node_serving, &client, false),
            (KUBELET_SERVING, &node_serving, &serving, true),
            (KUBELET_SERVING, &node, &serving, false),
            ("kubernetes.io/legacy-unknown", &user, &client, false),
        ];
        for (signer, request, use_, ok) in cases {
            assert_eq!(validate_for_signer(signer, request, use_).is_ok(), ok, "{signer} {request:?} {use_:?}");
        }
    }

    #[test]
    fn approver_recognises_node_client_csrs() {
        let node = csr("system:node:n1", &["system:nodes"], &[]);
        let client = usages(&["digital signature", "key encipherment", "client auth"]);
        assert_eq!(approval_check(KUBE_APISERVER_CLIENT_KUBELET, &node, &client, "system:node:n1").unwrap().subresource, "selfnodeclient");
        assert_eq!(approval_check(KUBE_APISERVER_CLIENT_KUBELET, &node, &client, "system:bootstrap:abcdef").unwrap().subresource, "nodeclient");
        assert_eq!(approval_check(KUBE_APISERVER_CLIENT, &node, &client, "x"), None);
        assert_eq!(approval_check(KUBE_APISERVER_CLIENT_KUBELET, &csr("jane", &[], &[]), &client, "jane"), None);
    }

    #[test]
    fn durations_and_cleanup() {
        let year = Duration::from_secs(365 * 24 * 3600);
        assert_eq!(certificate_duration(None, year), year);
        assert_eq!(certificate_duration(Some(3600), year), Duration::from_secs(3600));
        assert_eq!(certificate_duration(Some(60), year), Duration::from_secs(600));
        assert!(expired(CsrState::Issued, Duration::from_secs(3601)));
        assert!(!expired(CsrState::Pending, Duration::from_secs(3601)));
    }
}
