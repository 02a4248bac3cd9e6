#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The CSR API end to end: a user and a bootstrapping node obtain client
//! certificates from the cluster without touching the CA key.

use std::time::Duration;

use cluster_harness::{eventually, Cluster, Process};
use k8s_openapi::api::certificates::v1::{CertificateSigningRequest, CertificateSigningRequestSpec};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::ByteString;
use kube::api::{Api, ObjectMeta, PostParams};

fn controller_manager(cluster: &Cluster) -> Process {
    let pki = cluster.pki_dir();
    let kubeconfig = cluster.kubeconfig("controller-manager");
    cluster.spawn(
        "controller-manager",
        &[
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
            "--leader-elect=false",
            "--controllers=csrsigning,csrapproving",
            "--cluster-signing-cert-file",
            pki.join("ca.crt").to_str().unwrap(),
            "--cluster-signing-key-file",
            pki.join("ca.key").to_str().unwrap(),
        ],
    )
}

fn csr_object(name: &str, pem: &str, signer: &str, usages: &[&str]) -> CertificateSigningRequest {
    CertificateSigningRequest {
        metadata: ObjectMeta { name: Some(name.into()), ..Default::default() },
        spec: CertificateSigningRequestSpec {
            request: ByteString(pem.as_bytes().to_vec()),
            signer_name: signer.into(),
            usages: Some(usages.iter().map(|u| u.to_string()).collect()),
            expiration_seconds: Some(3600),
            ..Default::default()
        },
        ..Default::default()
    }
}

async fn issued_certificate(api: &Api<CertificateSigningRequest>, name: &str) -> String {
    let api = api.clone();
    let name = name.to_string();
    eventually(Duration::from_secs(20), "the certificate to be issued", move || {
        let (api, name) = (api.clone(), name.clone());
        async move {
            let csr = api.get(&name).await.ok()?;
            let cert = csr.status?.certificate?;
            (!cert.0.is_empty()).then(|| String::from_utf8(cert.0).unwrap())
        }
    })
    .await
}

/// Writes `<cluster>/kubeconfigs/<name>.conf` for a client certificate.
fn write_cert_kubeconfig(cluster: &Cluster, name: &str, user: &str, cert: &str, key: &str) {
    let ca = std::fs::read_to_string(cluster.pki_dir().join("ca.crt")).unwrap();
    pki::Kubeconfig::new("ferrokube", &cluster.url(), &ca).with_client_cert(user, cert, key).write(&cluster.kubeconfig(name)).unwrap();
}

fn whoami(cluster: &Cluster, identity: &str) -> String {
    let out = cluster.kubectl_as(identity, &["auth", "whoami", "-o", "jsonpath={.status.userInfo.username}"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[tokio::test]
async fn a_user_gets_a_client_certificate_after_approval() {
    let cluster = Cluster::start().await;
    let _cm = controller_manager(&cluster);
    let admin = cluster.admin_client().await;
    let api: Api<CertificateSigningRequest> = Api::all(admin);
    let request = pki::CsrRequest { common_name: "jane".into(), organizations: vec!["dev".into()], ..Default::default() };
    let (pem, key) = pki::generate_csr(&request).unwrap();
    api.create(&PostParams::default(), &csr_object("jane", &pem, "kubernetes.io/kube-apiserver-client", &["client auth"])).await.unwrap();
    let out = cluster.kubectl(&["certificate", "approve", "jane"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let cert = issued_certificate(&api, "jane").await;
    write_cert_kubeconfig(&cluster, "jane", "jane", &cert, &key);
    assert_eq!(whoami(&cluster, "jane"), "jane");
    // A request the signer's policy refuses is marked Failed.
    let (pem, _) = pki::generate_csr(&pki::CsrRequest { common_name: "web".into(), ..Default::default() }).unwrap();
    api.create(&PostParams::default(), &csr_object("web", &pem, "kubernetes.io/kube-apiserver-client", &["server auth"])).await.unwrap();
    assert!(cluster.kubectl(&["certificate", "approve", "web"]).status.success());
    let failed = eventually(Duration::from_secs(20), "the CSR to fail", || {
        let api = api.clone();
        async move {
            let csr = api.get("web").await.ok()?;
            csr.status?.conditions?.into_iter().find(|c| c.type_ == "Failed")
        }
    })
    .await;
    assert_eq!(failed.reason.as_deref(), Some("SignerValidationFailure"));
}

#[tokio::test]
async fn a_bootstrapping_node_is_auto_approved() {
    let cluster = Cluster::start().await;
    let cm = controller_manager(&cluster);
    let admin = cluster.admin_client().await;
    // A bootstrap token, and the bindings kubeadm creates for it.
    let secrets: Api<Secret> = Api::namespaced(admin.clone(), "kube-system");
    let token = Secret {
        metadata: ObjectMeta { name: Some("bootstrap-token-abcdef".into()), ..Default::default() },
        type_: Some("bootstrap.kubernetes.io/token".into()),
        string_data: Some(
            [
                ("token-id", "abcdef"),
                ("token-secret", "0123456789abcdef"),
                ("usage-bootstrap-authentication", "true"),
                ("auth-extra-groups", "system:bootstrappers:kubeadm:default-node-token"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ),
        ..Default::default()
    };
    secrets.create(&PostParams::default(), &token).await.unwrap();
    for (binding, role) in [
        ("kubeadm:kubelet-bootstrap", "system:node-bootstrapper"),
        ("kubeadm:node-autoapprove-bootstrap", "system:certificates.k8s.io:certificatesigningrequests:nodeclient"),
    ] {
        let out = cluster.kubectl(&["create", "clusterrolebinding", binding, &format!("--clusterrole={role}"), "--group=system:bootstrappers"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let ca = std::fs::read_to_string(cluster.pki_dir().join("ca.crt")).unwrap();
    pki::Kubeconfig::new("ferrokube", &cluster.url(), &ca).with_token("tls-bootstrap", "abcdef.0123456789abcdef").write(&cluster.kubeconfig("bootstrap")).unwrap();
    let bootstrap = cluster.client("bootstrap").await;
    let api: Api<CertificateSigningRequest> = Api::all(bootstrap);
    let request = pki::CsrRequest { common_name: "system:node:n9".into(), organizations: vec!["system:nodes".into()], ..Default::default() };
    let (pem, key) = pki::generate_csr(&request).unwrap();
    let csr = csr_object("node-csr-n9", &pem, "kubernetes.io/kube-apiserver-client-kubelet", &["digital signature", "client auth"]);
    eventually(Duration::from_secs(10), "the bootstrap identity to create its CSR", || {
        let (api, csr) = (api.clone(), csr.clone());
        async move { api.create(&PostParams::default(), &csr).await.ok() }
    })
    .await;
    let admin_api: Api<CertificateSigningRequest> = Api::all(admin);
    for _ in 0..200 {
        let csr = admin_api.get("node-csr-n9").await.unwrap();
        if csr.status.as_ref().and_then(|s| s.certificate.as_ref()).is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let csr = admin_api.get("node-csr-n9").await.unwrap();
    assert!(csr.status.as_ref().and_then(|s| s.certificate.as_ref()).is_some(), "not issued: {:?}\n{}", csr.status, cm.log_tail());
    let cert = issued_certificate(&admin_api, "node-csr-n9").await;
    let approved = admin_api.get("node-csr-n9").await.unwrap().status.unwrap().conditions.unwrap();
    assert!(approved.iter().any(|c| c.type_ == "Approved" && c.reason.as_deref() == Some("AutoApproved")), "{approved:?}");
    write_cert_kubeconfig(&cluster, "n9", "system:node:n9", &cert, &key);
    assert_eq!(whoami(&cluster, "n9"), "system:node:n9");
}
