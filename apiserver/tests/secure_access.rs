#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Secure access end to end, over TLS with the real kubectl 1.33: x509 and
//! token authentication, RBAC with the default policy (the seeds' user
//! `train` scenario), exact 403 texts, `auth can-i`, escalation prevention,
//! and refused credentials.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const KUBECTL: &str = "/usr/lib/google-cloud-sdk/bin/kubectl.1.33";

struct Cluster {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Cluster {
    fn start() -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        std::fs::write(dir.path().join("tokens.csv"), "s3cr3t-token,tokenuser,1001,\"devs\"\n").unwrap();
        std::fs::write(dir.path().join("audit-policy.yaml"), "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: RequestResponse\n").unwrap();
        let log = std::fs::File::create(dir.path().join("apiserver.log")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_apiserver"))
            .args(["--secure-port", &port.to_string(), "--insecure-port", "0"])
            .arg("--data-dir").arg(dir.path().join("data"))
            .arg("--pki-dir").arg(dir.path().join("pki"))
            .arg("--write-admin-kubeconfig").arg(dir.path().join("admin.conf"))
            .arg("--token-auth-file").arg(dir.path().join("tokens.csv"))
            .arg("--audit-log-path").arg(dir.path().join("audit.log"))
            .arg("--audit-policy-file").arg(dir.path().join("audit-policy.yaml"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let c = Cluster { child, dir, port };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ok = c.admin(&["get", "--raw", "/readyz"]).0;
            if ok {
                break;
            }
            assert!(Instant::now() < deadline, "apiserver never became ready: {}", std::fs::read_to_string(c.dir.path().join("apiserver.log")).unwrap_or_default());
            std::thread::sleep(Duration::from_millis(200));
        }
        c
    }

    fn home(&self, user: &str) -> PathBuf {
        let h = self.dir.path().join(format!("home-{user}"));
        std::fs::create_dir_all(&h).unwrap();
        h
    }

    fn kubectl(&self, user: &str, kubeconfig: &Path, args: &[&str]) -> (bool, String, String) {
        let out = Command::new(KUBECTL)
            .env_clear()
            .env("HOME", self.home(user))
            .env("PATH", "/usr/bin:/bin")
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .arg("--request-timeout=20s")
            .args(args)
            .output()
            .unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stdout).to_string(), String::from_utf8_lossy(&out.stderr).to_string())
    }

    fn admin(&self, args: &[&str]) -> (bool, String, String) {
        self.kubectl("admin", &self.dir.path().join("admin.conf"), args)
    }

    fn ca(&self) -> pki::Ca {
        pki::PkiLayout::new(self.dir.path().join("pki")).load_ca().unwrap()
    }

    fn server(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// A kubeconfig with a client certificate for `user` in `groups`.
    fn cert_user(&self, user: &str, groups: &[&str]) -> PathBuf {
        let ca = self.ca();
        let groups: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
        let issued = ca.issue_client(user, &groups, pki::Validity::from_now(Duration::from_secs(3600))).unwrap();
        let path = self.dir.path().join(format!("{user}.conf"));
        pki::Kubeconfig::new("test", &self.server(), ca.cert_pem()).with_client_cert(user, &issued.cert_pem, &issued.key_pem).write(&path).unwrap();
        path
    }

    fn token_user(&self, name: &str, token: &str) -> PathBuf {
        let path = self.dir.path().join(format!("{name}.conf"));
        pki::Kubeconfig::new("test", &self.server(), self.ca().cert_pem()).with_token(name, token).write(&path).unwrap();
        path
    }
}

/// Poll `f` until it holds (RBAC caches update asynchronously, as upstream's informers).
fn eventually(mut f: impl FnMut() -> bool, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn rbac_scenarios_over_tls() {
    let c = Cluster::start();
    assert!(c.admin(&["create", "namespace", "dev"]).0);
    assert!(c.admin(&["create", "rolebinding", "train-view", "--clusterrole=view", "--user=train", "-n", "dev"]).0);
    assert!(c.admin(&["create", "sa", "user1", "-n", "dev"]).0);
    assert!(c.admin(&["create", "rolebinding", "user1-edit", "--clusterrole=edit", "--serviceaccount=dev:user1", "-n", "dev"]).0);
    assert!(c.admin(&["create", "rolebinding", "editor-edit", "--clusterrole=edit", "--user=editor", "-n", "dev"]).0);
    let train = c.cert_user("train", &[]);
    let editor = c.cert_user("editor", &[]);

    // Allowed: list pods in dev (once the RBAC index has the binding).
    eventually(|| c.kubectl("train", &train, &["get", "pods", "-n", "dev"]).0, "train to list pods in dev");
    let (_, out, _) = c.kubectl("train", &train, &["auth", "whoami"]);
    assert!(out.contains("train"), "{out}");

    // Forbidden, with upstream's exact text.
    let table: &[(&[&str], &str)] = &[
        (&["get", "pods", "-n", "default"], "pods is forbidden: User \"train\" cannot list resource \"pods\" in API group \"\" in the namespace \"default\""),
        (&["run", "web", "--image=nginx", "-n", "dev"], "pods is forbidden: User \"train\" cannot create resource \"pods\" in API group \"\" in the namespace \"dev\""),
        (&["get", "nodes"], "nodes is forbidden: User \"train\" cannot list resource \"nodes\" in API group \"\" at the cluster scope"),
        (&["create", "deployment", "d", "--image=nginx", "-n", "dev"], "deployments.apps is forbidden: User \"train\" cannot create resource \"deployments\" in API group \"apps\" in the namespace \"dev\""),
    ];
    for (args, message) in table {
        let (ok, _, err) = c.kubectl("train", &train, args);
        assert!(!ok, "{args:?} should be forbidden");
        assert!(err.contains(message), "{args:?}: {err}");
    }

    // auth can-i for a table of (user, verb, resource, namespace).
    let can: &[(&Path, &str, &str, &str, bool)] = &[
        (&train, "list", "pods", "dev", true),
        (&train, "get", "configmaps", "dev", true),
        (&train, "create", "pods", "dev", false),
        (&train, "list", "pods", "default", false),
        (&train, "list", "secrets", "dev", false),
        (&editor, "create", "deployments", "dev", true),
        (&editor, "delete", "pods", "dev", true),
        (&editor, "create", "rolebindings", "dev", false),
    ];
    for (kc, verb, res, ns, want) in can {
        let (ok, out, _) = c.kubectl("can", kc, &["auth", "can-i", verb, res, "-n", ns]);
        assert_eq!(ok, *want, "can-i {verb} {res} -n {ns}: {out}");
        assert_eq!(out.trim(), if *want { "yes" } else { "no" });
    }
    // The service account, as admin impersonation is not available: SubjectAccessReview.
    let (ok, out, _) = c.admin(&["auth", "can-i", "create", "deployments", "-n", "dev", "--as=system:serviceaccount:dev:user1"]);
    assert!(out.trim() == "yes" || !ok, "{out}");

    // Escalation: an `edit` user cannot bind cluster-admin.
    let (ok, _, err) = c.kubectl("editor", &editor, &["create", "rolebinding", "grab", "--clusterrole=cluster-admin", "--user=editor", "-n", "dev"]);
    assert!(!ok);
    assert!(err.contains("is forbidden") && (err.contains("attempting to grant RBAC permissions not currently held") || err.contains("cannot create resource \"rolebindings\"")), "{err}");

    // Service-account tokens (TokenRequest), and a pod-bound token that stops
    // working once its pod is gone.
    assert!(c.admin(&["create", "sa", "builder", "-n", "dev"]).0);
    assert!(c.admin(&["create", "rolebinding", "builder-view", "--clusterrole=view", "--serviceaccount=dev:builder", "-n", "dev"]).0);
    let (ok, token, err) = c.admin(&["create", "token", "builder", "-n", "dev"]);
    assert!(ok, "{err}");
    let sa = c.token_user("builder", token.trim());
    let (_, out, err) = c.kubectl("builder", &sa, &["auth", "whoami"]);
    assert!(out.contains("system:serviceaccount:dev:builder") && out.contains("system:serviceaccounts:dev"), "{out}{err}");
    eventually(|| c.kubectl("builder", &sa, &["get", "pods", "-n", "dev"]).0, "the service account to list pods");
    assert!(c.admin(&["run", "holder", "--image=busybox", "-n", "dev"]).0);
    let (ok, bound, err) = c.admin(&["create", "token", "builder", "-n", "dev", "--bound-object-kind=Pod", "--bound-object-name=holder"]);
    assert!(ok, "{err}");
    let bound_cfg = c.token_user("bound", bound.trim());
    eventually(|| c.kubectl("bound", &bound_cfg, &["get", "pods", "-n", "dev"]).0, "the bound token to work");
    assert!(c.admin(&["delete", "pod", "holder", "-n", "dev", "--wait=true"]).0);
    eventually(|| !c.kubectl("bound", &bound_cfg, &["get", "pods", "-n", "dev"]).0, "the bound token to stop working");

    // Bootstrap tokens: valid, and expired.
    for (id, expiration) in [("abcdef", "2099-01-01T00:00:00Z"), ("zzzzzz", "2001-01-01T00:00:00Z")] {
        let (ok, _, err) = c.admin(&[
            "create", "secret", "generic", &format!("bootstrap-token-{id}"), "-n", "kube-system",
            "--type=bootstrap.kubernetes.io/token",
            &format!("--from-literal=token-id={id}"),
            "--from-literal=token-secret=0123456789abcdef",
            "--from-literal=usage-bootstrap-authentication=true",
            &format!("--from-literal=expiration={expiration}"),
        ]);
        assert!(ok, "{err}");
    }
    let boot = c.token_user("boot", "abcdef.0123456789abcdef");
    eventually(|| c.kubectl("boot", &boot, &["auth", "whoami"]).1.contains("system:bootstrap:abcdef"), "the bootstrap token to authenticate");
    let (_, out, _) = c.kubectl("boot", &boot, &["auth", "whoami"]);
    assert!(out.contains("system:bootstrappers"), "{out}");
    let expired = c.token_user("expired", "zzzzzz.0123456789abcdef");
    let (ok, _, _) = c.kubectl("expired", &expired, &["auth", "whoami"]);
    assert!(!ok, "an expired bootstrap token must be refused");

    // The audit log has train's 403s and never a secret's data.
    let audit = std::fs::read_to_string(c.dir.path().join("audit.log")).unwrap();
    let events: Vec<serde_json::Value> = audit.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(events.iter().any(|e| e["user"]["username"] == "train" && e["responseStatus"]["code"] == 403 && e["objectRef"]["resource"] == "pods"), "no 403 event for train");
    assert!(events.iter().any(|e| e["level"] == "RequestResponse" && e["requestObject"].is_object()), "no request bodies at RequestResponse");
    assert!(!audit.contains("MDEyMzQ1Njc4OWFiY2RlZg") && !audit.contains("0123456789abcdef"), "a secret's data reached the audit log");

    // Token file authentication.
    let tok = c.token_user("tokenuser", "s3cr3t-token");
    let (_, out, _) = c.kubectl("tokenuser", &tok, &["auth", "whoami"]);
    assert!(out.contains("tokenuser") && out.contains("devs"), "{out}");
}

/// kubectl's renderings of a 401.
fn unauthorized(err: &str) -> bool {
    err.contains("Unauthorized") || err.contains("provide credentials")
}

#[test]
fn bad_credentials_are_refused() {
    let c = Cluster::start();
    // A wrong token: 401.
    let bad = c.token_user("nobody", "wrong-token");
    let (ok, _, err) = c.kubectl("nobody", &bad, &["get", "pods"]);
    assert!(!ok);
    assert!(unauthorized(&err), "{err}");
    // A client certificate from another CA: not authenticated (401).
    let other = pki::Ca::generate("other-ca").unwrap();
    let issued = other.issue_client("mallory", &["system:masters".to_string()], pki::Validity::from_now(Duration::from_secs(3600))).unwrap();
    let path = c.dir.path().join("mallory.conf");
    pki::Kubeconfig::new("test", &c.server(), c.ca().cert_pem()).with_client_cert("mallory", &issued.cert_pem, &issued.key_pem).write(&path).unwrap();
    let (ok, _, err) = c.kubectl("mallory", &path, &["get", "pods"]);
    assert!(!ok, "a certificate from another CA must not work");
    assert!(unauthorized(&err) || err.contains("certificate") || err.contains("tls"), "{err}");
    // An expired certificate from the right CA.
    let ca = c.ca();
    let past = std::time::SystemTime::now() - Duration::from_secs(7200);
    let expired = ca.issue_client("old", &[], pki::Validity::new(past, past + Duration::from_secs(60))).unwrap();
    let path = c.dir.path().join("old.conf");
    pki::Kubeconfig::new("test", &c.server(), ca.cert_pem()).with_client_cert("old", &expired.cert_pem, &expired.key_pem).write(&path).unwrap();
    let (ok, _, err) = c.kubectl("old", &path, &["get", "pods"]);
    assert!(!ok, "an expired certificate must not work: {err}");
    // A kubeconfig trusting the wrong CA refuses the server.
    let wrong = c.dir.path().join("wrong-ca.conf");
    pki::Kubeconfig::new("test", &c.server(), other.cert_pem()).with_token("x", "s3cr3t-token").write(&wrong).unwrap();
    let (ok, _, err) = c.kubectl("wrong", &wrong, &["get", "pods"]);
    assert!(!ok);
    assert!(err.contains("certificate"), "{err}");
    // (Anonymous access is covered in-process in tests/api.rs: kubectl
    // prompts for a username when a kubeconfig has no credentials.)
}

/// The Node authorizer and NodeRestriction: a kubelet identity reads only
/// what its pods reference and changes only its own Node.
#[test]
fn node_identities_are_confined_to_their_node() {
    let c = Cluster::start();
    let node = |name: &str| format!(r#"{{"apiVersion":"v1","kind":"Node","metadata":{{"name":"{name}","labels":{{"kubernetes.io/hostname":"{name}"}}}}}}"#);
    for n in ["n1", "n2"] {
        let path = c.dir.path().join(format!("{n}.json"));
        std::fs::write(&path, node(n)).unwrap();
        assert!(c.admin(&["create", "-f", path.to_str().unwrap()]).0);
    }
    assert!(c.admin(&["create", "secret", "generic", "s1", "--from-literal=k=v"]).0);
    assert!(c.admin(&["create", "secret", "generic", "s2", "--from-literal=k=v"]).0);
    let pod = |name: &str, node: &str, secret: &str| {
        format!(
            r#"{{"apiVersion":"v1","kind":"Pod","metadata":{{"name":"{name}"}},"spec":{{"nodeName":"{node}","automountServiceAccountToken":false,"containers":[{{"name":"c","image":"nginx"}}],"volumes":[{{"name":"s","secret":{{"secretName":"{secret}"}}}}]}}}}"#
        )
    };
    for (name, n, s) in [("p1", "n1", "s1"), ("p2", "n2", "s2")] {
        let path = c.dir.path().join(format!("{name}.json"));
        std::fs::write(&path, pod(name, n, s)).unwrap();
        let (ok, _, err) = c.admin(&["create", "-f", path.to_str().unwrap()]);
        assert!(ok, "{err}");
    }
    let n1 = c.cert_user("system:node:n1", &["system:nodes"]);
    eventually(|| c.kubectl("n1", &n1, &["get", "secret", "s1"]).0, "node n1 to read the secret of its pod");
    let (ok, _, err) = c.kubectl("n1", &n1, &["get", "secret", "s2"]);
    assert!(!ok);
    assert!(
        err.contains("secrets \"s2\" is forbidden: User \"system:node:n1\" cannot get resource \"secrets\" in API group \"\" in the namespace \"default\": no relationship found between node 'n1' and this object"),
        "{err}"
    );
    // Its own Node: yes; another node, a restricted label, its taints: no.
    let (ok, _, err) = c.kubectl("n1", &n1, &["label", "node", "n1", "team=a"]);
    assert!(ok, "{err}");
    let (ok, _, err) = c.kubectl("n1", &n1, &["label", "node", "n2", "team=a"]);
    assert!(!ok);
    assert!(err.contains("node \"n1\" is not allowed to modify node \"n2\""), "{err}");
    let (ok, _, err) = c.kubectl("n1", &n1, &["label", "node", "n1", "node-role.kubernetes.io/control-plane="]);
    assert!(!ok);
    assert!(err.contains("is not allowed to modify labels: node-role.kubernetes.io/control-plane"), "{err}");
    let (ok, _, err) = c.kubectl("n1", &n1, &["taint", "node", "n1", "k=v:NoSchedule"]);
    assert!(!ok);
    assert!(err.contains("node \"n1\" is not allowed to modify taints"), "{err}");
    // Pods: only its own, and it cannot create ordinary pods.
    let (ok, _, err) = c.kubectl("n1", &n1, &["delete", "pod", "p2", "--wait=false"]);
    assert!(!ok);
    assert!(err.contains("node \"n1\" can only delete pods with spec.nodeName set to itself"), "{err}");
    let (ok, _, err) = c.kubectl("n1", &n1, &["run", "rogue", "--image=nginx"]);
    assert!(!ok);
    assert!(err.contains("can only create mirror pods"), "{err}");
    // Leases: its own only.
    let (ok, _, err) = c.kubectl("n1", &n1, &["get", "lease", "n2", "-n", "kube-node-lease"]);
    assert!(!ok);
    assert!(err.contains("can only access node lease with the same name as the requesting node"), "{err}");
}

/// LimitRange and ResourceQuota refusals reach kubectl with upstream's text.
#[test]
fn quota_and_limit_range_messages_over_tls() {
    let c = Cluster::start();
    assert!(c.admin(&["create", "namespace", "team"]).0);
    assert!(c.admin(&["create", "quota", "small", "--hard=pods=1", "-n", "team"]).0);
    let (ok, _, err) = c.admin(&["run", "one", "--image=nginx", "-n", "team"]);
    assert!(ok, "{err}");
    let (ok, _, err) = c.admin(&["run", "two", "--image=nginx", "-n", "team"]);
    assert!(!ok);
    assert!(
        err.contains("pods \"two\" is forbidden: exceeded quota: small, requested: pods=1, used: pods=1, limited: pods=1"),
        "{err}"
    );
    let (_, out, _) = c.admin(&["describe", "quota", "small", "-n", "team"]);
    assert!(out.lines().any(|l| l.split_whitespace().collect::<Vec<_>>() == ["pods", "1", "1"]), "{out}");
    let lr = c.dir.path().join("lr.json");
    std::fs::write(&lr, r#"{"apiVersion":"v1","kind":"LimitRange","metadata":{"name":"mem","namespace":"team"},"spec":{"limits":[{"type":"Container","max":{"memory":"512Mi"}}]}}"#).unwrap();
    assert!(c.admin(&["create", "-f", lr.to_str().unwrap()]).0);
    assert!(c.admin(&["delete", "quota", "small", "-n", "team"]).0);
    let (ok, _, err) = c.admin(&["run", "hog", "--image=nginx", "-n", "team", "--overrides", r#"{"spec":{"containers":[{"name":"hog","image":"nginx","resources":{"limits":{"memory":"1Gi"}}}]}}"#]);
    assert!(!ok);
    assert!(err.contains("pods \"hog\" is forbidden: maximum memory usage per Container is 512Mi, but limit is 1Gi"), "{err}");
}

/// PodSecurity: `restricted` refuses a privileged pod with upstream's text,
/// `warn` comes back as a kubectl warning, bad labels are refused.
#[test]
fn pod_security_levels_over_tls() {
    let c = Cluster::start();
    assert!(c.admin(&["create", "namespace", "locked"]).0);
    assert!(c.admin(&["label", "namespace", "locked", "pod-security.kubernetes.io/enforce=restricted"]).0);
    let privileged = r#"{"spec":{"containers":[{"name":"nginx","image":"nginx","securityContext":{"privileged":true}}]}}"#;
    let (ok, _, err) = c.admin(&["run", "nginx", "--image=nginx", "-n", "locked", "--overrides", privileged]);
    assert!(!ok);
    assert!(
        err.contains("pods \"nginx\" is forbidden: violates PodSecurity \"restricted:latest\": privileged (container \"nginx\" must not set securityContext.privileged=true), allowPrivilegeEscalation != false (container \"nginx\" must set securityContext.allowPrivilegeEscalation=false), unrestricted capabilities (container \"nginx\" must set securityContext.capabilities.drop=[\"ALL\"]), runAsNonRoot != true (pod or container \"nginx\" must set securityContext.runAsNonRoot=true), seccompProfile (pod or container \"nginx\" must set securityContext.seccompProfile.type to \"RuntimeDefault\" or \"Localhost\")"),
        "{err}"
    );
    let compliant = r#"{"spec":{"securityContext":{"runAsNonRoot":true,"runAsUser":1000,"seccompProfile":{"type":"RuntimeDefault"}},"containers":[{"name":"app","image":"nginx","securityContext":{"allowPrivilegeEscalation":false,"capabilities":{"drop":["ALL"]}}}]}}"#;
    let (ok, _, err) = c.admin(&["run", "app", "--image=nginx", "-n", "locked", "--overrides", compliant]);
    assert!(ok, "{err}");
    assert!(c.admin(&["create", "namespace", "watched"]).0);
    assert!(c.admin(&["label", "namespace", "watched", "pod-security.kubernetes.io/warn=baseline"]).0);
    let (ok, _, err) = c.admin(&["run", "loud", "--image=nginx", "-n", "watched", "--overrides", privileged]);
    assert!(ok, "{err}");
    assert!(err.contains("Warning: would violate PodSecurity \"baseline:latest\": privileged (container \"nginx\" must not set securityContext.privileged=true)"), "{err}");
    let (ok, _, err) = c.admin(&["label", "namespace", "watched", "pod-security.kubernetes.io/enforce=strict"]);
    assert!(!ok);
    assert!(err.contains("metadata.labels[pod-security.kubernetes.io/enforce]: Invalid value: \"strict\""), "{err}");
}
