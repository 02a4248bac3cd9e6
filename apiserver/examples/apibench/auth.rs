//! Scenario e: what authentication and authorization add to a request, with
//! 1,000 RoleBindings in the cluster, and TokenReview throughput.
//!
//! One API server as deployed (HTTPS, the PKI it generates, a static token
//! file, Node,RBAC) also listens on the loopback insecure port. The same
//! `GET` of one ConfigMap is sent as five variants:
//! * the insecure port (plain HTTP, no authentication, no authorization);
//! * HTTPS with the admin's client certificate (`system:masters`: x509
//!   authentication, authorization short-circuited before RBAC) — the
//!   reference that isolates the credential check + RBAC;
//! * HTTPS as an x509 user, a static-token user and a service account
//!   (TokenRequest JWT), each allowed only by a namespaced Role that RBAC
//!   reaches after rejecting a decoy rule bound to the identity's group.
//!
//! Sequentially (one keep-alive connection per variant, requests
//! interleaved one by one across the variants so that machine noise hits
//! them alike) and with several concurrent clients (variants in turn,
//! order rotated per round). "Added" figures are per-round differences to
//! a reference, medians over rounds. TokenReviews of service-account JWTs
//! (as the admin) from N clients measure the review rate against upstream's
//! 5,000/s threshold. In-process timings of the RBAC decision and of the
//! JWT check give a view without HTTP, TLS and scheduling noise.

mod conn;
mod micro;
mod policy;
mod secured;

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bytes::Bytes;
use hyper::{Method, StatusCode};
use serde_json::{json, Value};

use crate::client::excerpt;
use crate::load::{self, http_error_kind, Phase, WorkerOut};
use crate::server::{CpuMeter, CpuUse};
use crate::stats::{median, ms, rate, Errors, Report, Samples};
use crate::Ctx;
use conn::{AuthConn, Credential};
use policy::Identities;
use secured::SecuredServer;

/// Upstream's scalability threshold: token verifications per second.
const REVIEW_THRESHOLD: f64 = 5000.0;
/// The issue's bound on what authentication + authorization add (p99).
const ADDED_P99_LIMIT_MS: f64 = 1.0;
/// Service accounts whose tokens the TokenReview clients send (in turn).
const REVIEW_ACCOUNTS: usize = 16;

/// Sizes and durations of scenario e.
#[derive(Debug, Clone)]
pub struct AuthPlan {
    /// Sequential requests per variant, all rounds together.
    pub sequential_requests: usize,
    pub rounds: usize,
    pub concurrent_clients: usize,
    pub concurrent_phase: Duration,
    pub review_clients: Vec<usize>,
    pub review_phase: Duration,
    pub micro_rbac_calls: usize,
    pub micro_jwt_calls: usize,
}

impl AuthPlan {
    pub fn full() -> AuthPlan {
        AuthPlan {
            sequential_requests: 20_000,
            rounds: 5,
            concurrent_clients: 8,
            concurrent_phase: Duration::from_secs(1),
            review_clients: vec![8, 32],
            review_phase: Duration::from_millis(1500),
            micro_rbac_calls: 200_000,
            micro_jwt_calls: 20_000,
        }
    }

    pub fn quick() -> AuthPlan {
        AuthPlan {
            sequential_requests: 2_000,
            rounds: 1,
            concurrent_clients: 8,
            concurrent_phase: Duration::from_millis(500),
            review_clients: vec![8, 32],
            review_phase: Duration::from_millis(500),
            micro_rbac_calls: 20_000,
            micro_jwt_calls: 2_000,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Variant {
    Insecure,
    TlsAdmin,
    Cert,
    Token,
    ServiceAccount,
}

const VARIANTS: [Variant; 5] = [Variant::Insecure, Variant::TlsAdmin, Variant::Cert, Variant::Token, Variant::ServiceAccount];
const AUTHENTICATED: [Variant; 3] = [Variant::Cert, Variant::Token, Variant::ServiceAccount];

impl Variant {
    fn label(self) -> &'static str {
        match self {
            Variant::Insecure => "insecure port (no TLS, authn or authz)",
            Variant::TlsAdmin => "TLS, admin cert (system:masters, no RBAC)",
            Variant::Cert => "TLS, x509 cert user, RBAC",
            Variant::Token => "TLS, static token user, RBAC",
            Variant::ServiceAccount => "TLS, service-account JWT, RBAC",
        }
    }

    fn short(self) -> &'static str {
        match self {
            Variant::Insecure => "insecure",
            Variant::TlsAdmin => "TLS admin",
            Variant::Cert => "x509 cert",
            Variant::Token => "static token",
            Variant::ServiceAccount => "SA JWT",
        }
    }
}

/// Latency in microseconds (from milliseconds) for small figures.
fn us(value_ms: Option<f64>) -> String {
    match value_ms {
        None => "n/a".into(),
        Some(v) if v.abs() >= 1.0 => ms(Some(v)),
        Some(v) if v.abs() < 0.01 => format!("{:.1} µs", v * 1000.0),
        Some(v) => format!("{:.0} µs", v * 1000.0),
    }
}

fn signed_us(value_ms: Option<f64>) -> String {
    match value_ms {
        Some(v) if v >= 0.0 => format!("+{}", us(Some(v))),
        Some(v) => format!("−{}", us(Some(-v))),
        None => "n/a".into(),
    }
}

/// One round's (p50, p99) in milliseconds.
type Percentiles = (Option<f64>, Option<f64>);

/// Everything measured, per variant and round.
#[derive(Default)]
struct Measured {
    /// Sequential: per variant, per-round figures and requests per round.
    sequential: Vec<(Variant, Vec<Percentiles>, usize)>,
    /// CPU use during each sequential round (all variants together).
    sequential_cpu: Vec<CpuUse>,
    sequential_errors: Errors,
    /// Concurrent: per variant, per round.
    concurrent: Vec<(Variant, Vec<Round>)>,
    concurrent_errors: Errors,
    /// TokenReview: per client count, per round.
    reviews: Vec<(usize, Vec<Round>)>,
    review_errors: Errors,
}

#[derive(Debug, Clone, Copy)]
struct Round {
    rate: Option<f64>,
    p50: Option<f64>,
    p99: Option<f64>,
    cpu: CpuUse,
}

impl Round {
    fn of(mut phase: Phase, cpu: CpuUse) -> Round {
        Round { rate: phase.rate(), p50: phase.lat.percentile_ms(50.0), p99: phase.lat.percentile_ms(99.0), cpu }
    }

    /// API server CPU time per completed request, in milliseconds: the
    /// cost of a request, robust to how much of the machine the server got.
    fn cpu_per_request_ms(&self) -> Option<f64> {
        let (cores, rate) = (self.cpu.apiserver?, self.rate?);
        (rate > 0.0).then(|| cores * 1000.0 / rate)
    }

    /// Completed requests per second of API server CPU time.
    fn per_core(&self) -> Option<f64> {
        let (cores, rate) = (self.cpu.apiserver?, self.rate?);
        (cores > 0.0).then(|| rate / cores)
    }
}

fn medians(rounds: &[Round]) -> Round {
    Round {
        rate: median(rounds.iter().map(|r| r.rate)),
        p50: median(rounds.iter().map(|r| r.p50)),
        p99: median(rounds.iter().map(|r| r.p99)),
        cpu: CpuUse {
            apiserver: median(rounds.iter().map(|r| r.cpu.apiserver)),
            etcd: None,
            harness: median(rounds.iter().map(|r| r.cpu.harness)),
            other: median(rounds.iter().map(|r| r.cpu.other)),
        },
    }
}

/// Median over rounds of `a − b`, round by round.
fn paired_difference(a: &[Option<f64>], b: &[Option<f64>]) -> Option<f64> {
    median(a.iter().zip(b).map(|(a, b)| Some((*a)? - (*b)?)))
}

pub async fn run(ctx: &Ctx, report: &mut Report) -> anyhow::Result<()> {
    let plan = &ctx.plan.auth;
    let dir = ctx.work.join("e-auth");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let static_token = uuid::Uuid::new_v4().simple().to_string();
    let token_file = dir.join("tokens.csv");
    std::fs::write(&token_file, format!("{static_token},{},bench-token-uid,\"{}\"\n", Identities::TOKEN_USER, Identities::TOKEN_GROUP))
        .with_context(|| format!("writing {}", token_file.display()))?;
    eprintln!("apibench: [e] starting an API server with HTTPS, PKI, a token file and Node,RBAC");
    let server = SecuredServer::start(&ctx.bin, &dir, &token_file, ctx.logs.join("apiserver-e-auth.log")).await?;

    let mut creds = credentials(&server, &static_token).await?;
    let insecure = Credential { addr: server.insecure, tls: None, bearer: None };
    let populated = populate(&insecure).await?;
    report.info(
        "e",
        "RBAC objects stored",
        format!(
            "{} RoleBindings in {} namespaces (+ {} bootstrap), {} ClusterRoleBindings",
            populated.bench_bindings, policy::NAMESPACES, populated.other_bindings, populated.cluster_bindings
        ),
    );
    let sa_token = token_request(&insecure, &policy::target_namespace(), policy::SERVICE_ACCOUNT).await?;
    let mut review_tokens = Vec::with_capacity(REVIEW_ACCOUNTS);
    for i in 0..REVIEW_ACCOUNTS {
        review_tokens.push(token_request(&insecure, &policy::target_namespace(), &format!("bench-review-{i:02}")).await?);
    }
    for (variant, cred) in creds.iter_mut() {
        if *variant == Variant::ServiceAccount {
            cred.bearer = Some(sa_token.clone());
        }
    }
    wait_until_allowed(&creds).await?;
    sanity_check_denial(&creds, report).await;

    let mut measured = Measured::default();
    eprintln!("apibench: [e] sequential GETs, {} per variant in {} round(s), interleaved", plan.sequential_requests, plan.rounds);
    sequential(&creds, plan, server.pid(), &mut measured).await?;
    eprintln!("apibench: [e] {} concurrent clients per variant, {} round(s)", plan.concurrent_clients, plan.rounds);
    concurrent(&creds, plan, server.pid(), &mut measured).await?;
    let admin = creds.iter().find(|(v, _)| *v == Variant::TlsAdmin).map(|(_, c)| c.clone()).context("no admin credential")?;
    eprintln!("apibench: [e] TokenReview throughput with {:?} clients", plan.review_clients);
    token_reviews(&admin, &review_tokens, plan, server.pid(), &mut measured).await?;

    eprintln!("apibench: [e] in-process RBAC and JWT timings");
    let (rbac_calls, jwt_calls, pki_dir, token) = (plan.micro_rbac_calls, plan.micro_jwt_calls, server.pki_dir.clone(), sa_token.clone());
    let micro = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        Ok((
            micro::rbac_authorize(rbac_calls)?,
            micro::jwt_verify(&pki_dir, &token, jwt_calls)?,
            micro::ring_rs256(&pki_dir, &token, jwt_calls)?,
        ))
    })
    .await
    .context("the in-process benchmark panicked")?;

    summarise(ctx, report, &measured, micro);
    let (count, examples) = server.log_problems();
    if count > 0 {
        report.problem(format!(
            "[e] server log {} has {count} WARN/ERROR lines, e.g. {}",
            server.log_path().display(),
            examples.iter().map(|e| format!("`{}`", e.replace('`', "'"))).collect::<Vec<_>>().join(", ")
        ));
    }
    drop(server);
    Ok(())
}

/// The five variants' credentials (the service account's token is filled
/// in once the account exists).
async fn credentials(server: &SecuredServer, static_token: &str) -> anyhow::Result<Vec<(Variant, Credential)>> {
    let ca = pki::PkiLayout::new(&server.pki_dir).load_ca().with_context(|| format!("loading the CA from {}", server.pki_dir.display()))?;
    let validity = pki::Validity::from_now(Duration::from_secs(3600));
    let admin = ca.issue_client("kubernetes-admin", &[rbac::SYSTEM_MASTERS.to_string()], validity).context("issuing the admin certificate")?;
    let user = ca.issue_client(Identities::CERT_USER, &[Identities::CERT_GROUP.to_string()], validity).context("issuing the user certificate")?;
    let config = |cert: Option<&pki::Issued>| -> anyhow::Result<Arc<rustls::ClientConfig>> {
        let config = pki::tls::client_config(ca.cert_pem(), cert.map(|c| (c.cert_pem.as_str(), c.key_pem.as_str())))
            .context("building a TLS client configuration")?;
        Ok(Arc::new(config))
    };
    let secure = |tls, bearer: Option<&str>| Credential { addr: server.secure, tls: Some(tls), bearer: bearer.map(str::to_string) };
    let anonymous = config(None)?;
    Ok(vec![
        (Variant::Insecure, Credential { addr: server.insecure, tls: None, bearer: None }),
        (Variant::TlsAdmin, secure(config(Some(&admin))?, None)),
        (Variant::Cert, secure(config(Some(&user))?, None)),
        (Variant::Token, secure(anonymous.clone(), Some(static_token))),
        (Variant::ServiceAccount, secure(anonymous, None)),
    ])
}

struct Populated {
    bench_bindings: usize,
    other_bindings: usize,
    cluster_bindings: usize,
}

fn configmap_path() -> String {
    format!("/api/v1/namespaces/{}/configmaps/{}", policy::target_namespace(), policy::CONFIGMAP)
}

/// Namespaces, Roles, service accounts, the ConfigMap and 1,000
/// RoleBindings, through the insecure port.
async fn populate(insecure: &Credential) -> anyhow::Result<Populated> {
    eprintln!("apibench: [e] creating {} namespaces and {} RoleBindings", policy::NAMESPACES, policy::NAMESPACES * policy::BINDINGS_PER_NAMESPACE);
    for i in 0..policy::NAMESPACES {
        load::namespace(insecure.addr, &policy::namespace(i)).await?;
    }
    let ns = policy::target_namespace();
    let mut conn = AuthConn::connect(insecure).await?;
    for role in policy::roles() {
        let body = serde_json::to_vec(&role).context("encoding a Role")?;
        conn.call_ok(Method::POST, &format!("/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/roles"), Some(body.into())).await?;
    }
    let accounts = std::iter::once(policy::SERVICE_ACCOUNT.to_string()).chain((0..REVIEW_ACCOUNTS).map(|i| format!("bench-review-{i:02}")));
    for name in accounts {
        let body = json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": ns}});
        conn.call_ok(Method::POST, &format!("/api/v1/namespaces/{ns}/serviceaccounts"), Some(body.to_string().into())).await?;
    }
    let configmap = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": policy::CONFIGMAP, "namespace": ns, "labels": {"app": "apibench"}},
        "data": {"payload": "x".repeat(256)},
    });
    conn.call_ok(Method::POST, &format!("/api/v1/namespaces/{ns}/configmaps"), Some(configmap.to_string().into())).await?;

    let bodies: Vec<(String, Bytes)> = policy::role_bindings()
        .iter()
        .map(|b| {
            let ns = b.metadata.namespace.clone().unwrap_or_default();
            let body = serde_json::to_vec(b).context("encoding a RoleBinding")?;
            Ok((format!("/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings"), Bytes::from(body)))
        })
        .collect::<anyhow::Result<_>>()?;
    let total = bodies.len();
    let bodies = Arc::new(bodies);
    let loaded = load::bulk_create(insecure.addr, 8, total, move |i| bodies[i].clone()).await?;
    if loaded.errors.total() > 0 {
        bail!("creating the RoleBindings: {}", loaded.errors.summary());
    }
    let list = |body: Bytes| -> anyhow::Result<Vec<Value>> {
        let v: Value = serde_json::from_slice(&body).context("decoding a list")?;
        Ok(v.get("items").and_then(Value::as_array).cloned().unwrap_or_default())
    };
    let bindings = list(conn.call_ok(Method::GET, "/apis/rbac.authorization.k8s.io/v1/rolebindings", None).await?)?;
    let bench_bindings = bindings
        .iter()
        .filter(|b| b.pointer("/metadata/namespace").and_then(Value::as_str).is_some_and(|n| n.starts_with("bench-auth-")))
        .count();
    let cluster_bindings = list(conn.call_ok(Method::GET, "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", None).await?)?.len();
    if bench_bindings != total {
        bail!("{bench_bindings} RoleBindings stored in the benchmark's namespaces, expected {total}");
    }
    Ok(Populated { bench_bindings, other_bindings: bindings.len() - bench_bindings, cluster_bindings })
}

/// A service-account token from the TokenRequest API (one hour).
async fn token_request(insecure: &Credential, ns: &str, account: &str) -> anyhow::Result<String> {
    let mut conn = AuthConn::connect(insecure).await?;
    let body = json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"expirationSeconds": 3600}});
    let response = conn
        .call_ok(Method::POST, &format!("/api/v1/namespaces/{ns}/serviceaccounts/{account}/token"), Some(body.to_string().into()))
        .await
        .with_context(|| format!("requesting a token for {ns}/{account}"))?;
    let v: Value = serde_json::from_slice(&response).context("decoding the TokenRequest")?;
    v.pointer("/status/token").and_then(Value::as_str).map(str::to_string).context("the TokenRequest has no status.token")
}

/// RBAC's index follows the bindings asynchronously: wait until every
/// variant may read the ConfigMap.
async fn wait_until_allowed(creds: &[(Variant, Credential)]) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    for (variant, cred) in creds {
        let mut conn = AuthConn::connect(cred).await.with_context(|| format!("connecting as {}", variant.label()))?;
        loop {
            let (status, body) = conn.call(Method::GET, &configmap_path(), None).await?;
            if status == StatusCode::OK {
                break;
            }
            if Instant::now() > deadline || status != StatusCode::FORBIDDEN {
                bail!("{}: GET {} answers HTTP {status}: {}", variant.label(), configmap_path(), excerpt(&body));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    Ok(())
}

/// RBAC is really in the path: the x509 user may not read the namespace
/// next door.
async fn sanity_check_denial(creds: &[(Variant, Credential)], report: &mut Report) {
    let Some((_, cred)) = creds.iter().find(|(v, _)| *v == Variant::Cert) else { return };
    let path = format!("/api/v1/namespaces/{}/configmaps/{}", policy::namespace(0), policy::CONFIGMAP);
    let outcome = match AuthConn::connect(cred).await {
        Ok(mut conn) => conn.call(Method::GET, &path, None).await.map(|(status, _)| status),
        Err(e) => Err(e),
    };
    match outcome {
        Ok(StatusCode::FORBIDDEN) => {}
        Ok(other) => report.problem(format!("[e] the x509 user got HTTP {other} for {path}; expected 403 (is RBAC enforced?)")),
        Err(e) => report.problem(format!("[e] checking a denial: {e:#}")),
    }
}

/// One keep-alive connection per variant; request i of a round goes to the
/// variants in an order rotated by i.
async fn sequential(creds: &[(Variant, Credential)], plan: &AuthPlan, pid: Option<u32>, measured: &mut Measured) -> anyhow::Result<()> {
    let path = configmap_path();
    let mut conns = Vec::with_capacity(creds.len());
    for (variant, cred) in creds {
        conns.push(AuthConn::connect(cred).await.with_context(|| format!("connecting as {}", variant.label()))?);
    }
    // Warm-up (allocator, caches, branch predictors), not recorded.
    for _ in 0..300 {
        for conn in conns.iter_mut() {
            let _ = conn.call(Method::GET, &path, None).await?;
        }
    }
    let rounds = plan.rounds.max(1);
    let per_round = (plan.sequential_requests / rounds).max(1);
    let mut per_variant: Vec<Vec<Percentiles>> = vec![Vec::new(); creds.len()];
    for round in 0..rounds {
        let meter = CpuMeter::start(pid, None);
        let mut samples = vec![Samples::default(); creds.len()];
        for i in 0..per_round {
            for k in 0..conns.len() {
                let v = (i + k) % conns.len();
                let started = Instant::now();
                match conns[v].call(Method::GET, &path, None).await {
                    Ok((StatusCode::OK, _)) => samples[v].push(started.elapsed().as_micros()),
                    Ok((status, body)) => measured.sequential_errors.add_example(
                        format!("{}: {}", creds[v].0.short(), http_error_kind(status, &body)),
                        excerpt(&body),
                    ),
                    Err(e) => {
                        measured.sequential_errors.add_example(format!("{}: transport error", creds[v].0.short()), format!("{e:#}"));
                        conns[v] = AuthConn::connect(&creds[v].1).await?;
                    }
                }
            }
        }
        measured.sequential_cpu.push(meter.finish());
        for (v, mut s) in samples.into_iter().enumerate() {
            let figures = (s.percentile_ms(50.0), s.percentile_ms(99.0));
            eprintln!(
                "apibench:   round {}/{rounds} {:<44} p50 {:>8}  p99 {:>8}",
                round + 1,
                creds[v].0.label(),
                us(figures.0),
                us(figures.1)
            );
            per_variant[v].push(figures);
        }
    }
    measured.sequential = creds.iter().zip(per_variant).map(|((v, _), rounds)| (*v, rounds, per_round)).collect();
    Ok(())
}

async fn get_worker(cred: Credential, duration: Duration, barrier: Arc<tokio::sync::Barrier>) -> WorkerOut {
    let conn = AuthConn::connect(&cred).await;
    barrier.wait().await;
    let mut out = WorkerOut::default();
    let mut conn = match conn {
        Ok(c) => c,
        Err(e) => {
            out.errors.add(format!("connect: {e:#}"));
            return out;
        }
    };
    let path = configmap_path();
    let end = load::deadline(duration);
    while Instant::now() < end {
        let started = Instant::now();
        match conn.call(Method::GET, &path, None).await {
            Ok((StatusCode::OK, _)) => {
                out.lat.push(started.elapsed().as_micros());
                out.ops += 1;
            }
            Ok((status, body)) => out.errors.add_example(http_error_kind(status, &body), excerpt(&body)),
            Err(e) => {
                out.errors.add_example("transport error", format!("{e:#}"));
                match AuthConn::connect(&cred).await {
                    Ok(c) => conn = c,
                    Err(e) => {
                        out.errors.add(format!("reconnect: {e:#}"));
                        break;
                    }
                }
            }
        }
    }
    out
}

/// Each variant in turn with `concurrent_clients` connections for a
/// phase; the order rotates per round.
async fn concurrent(creds: &[(Variant, Credential)], plan: &AuthPlan, pid: Option<u32>, measured: &mut Measured) -> anyhow::Result<()> {
    let mut per_variant: Vec<Vec<Round>> = vec![Vec::new(); creds.len()];
    for round in 0..plan.rounds.max(1) {
        for k in 0..creds.len() {
            let v = (round + k) % creds.len();
            let cred = creds[v].1.clone();
            let meter = CpuMeter::start(pid, None);
            let (phase, _) = load::run_phase(plan.concurrent_clients, |_, barrier| get_worker(cred.clone(), plan.concurrent_phase, barrier)).await?;
            let cpu = meter.finish();
            for (kind, count) in &phase.errors.counts {
                let labelled = format!("{}: {kind}", creds[v].0.short());
                if let Some(example) = phase.errors.examples.get(kind) {
                    measured.concurrent_errors.examples.entry(labelled.clone()).or_insert_with(|| example.clone());
                }
                *measured.concurrent_errors.counts.entry(labelled).or_default() += count;
            }
            let r = Round::of(phase, cpu);
            eprintln!(
                "apibench:   round {} {:<44} {:>9}  p50 {:>8}  p99 {:>8}  cpu {}",
                round + 1,
                creds[v].0.label(),
                rate(r.rate),
                us(r.p50),
                us(r.p99),
                r.cpu.render()
            );
            per_variant[v].push(r);
        }
    }
    measured.concurrent = creds.iter().zip(per_variant).map(|((v, _), r)| (*v, r)).collect();
    Ok(())
}

async fn review_worker(admin: Credential, bodies: Arc<Vec<Bytes>>, offset: usize, duration: Duration, barrier: Arc<tokio::sync::Barrier>) -> WorkerOut {
    let conn = AuthConn::connect(&admin).await;
    barrier.wait().await;
    let mut out = WorkerOut::default();
    let mut conn = match conn {
        Ok(c) => c,
        Err(e) => {
            out.errors.add(format!("connect: {e:#}"));
            return out;
        }
    };
    let end = load::deadline(duration);
    let mut i = offset;
    while Instant::now() < end {
        let body = bodies[i % bodies.len()].clone();
        i += 1;
        let started = Instant::now();
        match conn.call(Method::POST, "/apis/authentication.k8s.io/v1/tokenreviews", Some(body)).await {
            Ok((status, response)) if status.is_success() => {
                if crate::client::find(&response, b"\"authenticated\":true").is_some() {
                    out.lat.push(started.elapsed().as_micros());
                    out.ops += 1;
                } else {
                    out.errors.add_example("review not authenticated", excerpt(&response));
                }
            }
            Ok((status, response)) => out.errors.add_example(http_error_kind(status, &response), excerpt(&response)),
            Err(e) => {
                out.errors.add_example("transport error", format!("{e:#}"));
                match AuthConn::connect(&admin).await {
                    Ok(c) => conn = c,
                    Err(e) => {
                        out.errors.add(format!("reconnect: {e:#}"));
                        break;
                    }
                }
            }
        }
    }
    out
}

async fn token_reviews(admin: &Credential, tokens: &[String], plan: &AuthPlan, pid: Option<u32>, measured: &mut Measured) -> anyhow::Result<()> {
    let bodies: Arc<Vec<Bytes>> = Arc::new(
        tokens
            .iter()
            .map(|t| Bytes::from(json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": t}}).to_string()))
            .collect(),
    );
    let mut per_count: Vec<Vec<Round>> = vec![Vec::new(); plan.review_clients.len()];
    for round in 0..plan.rounds.max(1) {
        for k in 0..plan.review_clients.len() {
            let c = (round + k) % plan.review_clients.len();
            let clients = plan.review_clients[c];
            let meter = CpuMeter::start(pid, None);
            let (phase, _) = load::run_phase(clients, |i, barrier| review_worker(admin.clone(), bodies.clone(), i, plan.review_phase, barrier)).await?;
            let cpu = meter.finish();
            measured.review_errors.merge(&phase.errors);
            let r = Round::of(phase, cpu);
            eprintln!(
                "apibench:   round {} TokenReview {clients:>3} clients: {:>9}  p50 {:>8}  p99 {:>8}  cpu {}",
                round + 1,
                rate(r.rate),
                us(r.p50),
                us(r.p99),
                r.cpu.render()
            );
            per_count[c].push(r);
        }
    }
    measured.reviews = plan.review_clients.iter().copied().zip(per_count).collect();
    Ok(())
}

type Micro = (Vec<micro::Nanos>, (micro::Nanos, micro::Nanos), micro::Nanos);

fn summarise(ctx: &Ctx, report: &mut Report, m: &Measured, micro: anyhow::Result<Micro>) {
    let plan = &ctx.plan.auth;
    let seq = |v: Variant| m.sequential.iter().find(|(x, _, _)| *x == v).map(|(_, r, _)| r.as_slice()).unwrap_or(&[]);
    let p50s = |v: Variant| seq(v).iter().map(|r| r.0).collect::<Vec<_>>();
    let p99s = |v: Variant| seq(v).iter().map(|r| r.1).collect::<Vec<_>>();
    let conc = |v: Variant| m.concurrent.iter().find(|(x, _)| *x == v).map(|(_, r)| r.as_slice()).unwrap_or(&[]);
    let conc_p99s = |v: Variant| conc(v).iter().map(|r| r.p99).collect::<Vec<_>>();
    let conc_rates = |v: Variant| conc(v).iter().map(|r| r.rate).collect::<Vec<_>>();

    for v in AUTHENTICATED {
        let added = paired_difference(&p99s(v), &p99s(Variant::TlsAdmin));
        report.check(
            "e",
            format!("{}: added p99 over TLS admin reference, 1 client", v.short()),
            format!("{} (p99 {} vs {})", signed_us(added), us(median(p99s(v))), us(median(p99s(Variant::TlsAdmin)))),
            "< 1 ms",
            added.map(|a| a < ADDED_P99_LIMIT_MS),
        );
    }
    for v in AUTHENTICATED {
        let added = paired_difference(&p99s(v), &p99s(Variant::Insecure));
        report.info(
            "e",
            format!("{}: added p99 over the insecure port (TLS included), 1 client", v.short()),
            format!("{} (p99 {} vs {})", signed_us(added), us(median(p99s(v))), us(median(p99s(Variant::Insecure)))),
        );
    }
    let clients = plan.concurrent_clients;
    let conc_costs = |v: Variant| conc(v).iter().map(Round::cpu_per_request_ms).collect::<Vec<_>>();
    for v in AUTHENTICATED {
        let added = paired_difference(&conc_costs(v), &conc_costs(Variant::TlsAdmin));
        report.info(
            "e",
            format!("{}: API server CPU per request vs TLS admin, {} clients", v.short(), plan.concurrent_clients),
            format!("{} ({} vs {})", signed_us(added), us(median(conc_costs(v))), us(median(conc_costs(Variant::TlsAdmin)))),
        );
    }
    for v in AUTHENTICATED {
        let added = paired_difference(&conc_p99s(v), &conc_p99s(Variant::TlsAdmin));
        let ratio = median(conc_rates(v).iter().zip(conc_rates(Variant::TlsAdmin)).map(|(a, b)| Some((*a)? / b?)));
        report.info(
            "e",
            format!("{}: added p99 / throughput vs TLS admin, {clients} clients", v.short()),
            format!("{} / {}", signed_us(added), ratio.map_or("n/a".into(), |r| format!("{:.0}%", r * 100.0))),
        );
    }

    let best = m
        .reviews
        .iter()
        .map(|(c, rounds)| (*c, medians(rounds)))
        .max_by(|a, b| a.1.rate.unwrap_or(0.0).total_cmp(&b.1.rate.unwrap_or(0.0)));
    for (c, rounds) in &m.reviews {
        let r = medians(rounds);
        let per_core = median(rounds.iter().map(Round::per_core));
        let text = format!(
            "{} ({} the threshold; {} per API server core; p99 {})",
            rate(r.rate),
            r.rate.map_or("n/a".into(), |x| format!("{:.2}×", x / REVIEW_THRESHOLD)),
            rate(per_core),
            us(r.p99)
        );
        if best.as_ref().is_some_and(|(bc, _)| bc == c) {
            report.check(
                "e",
                format!("TokenReview (SA JWT) throughput, {c} clients (best)"),
                text,
                "≥ 5,000/s",
                r.rate.map(|x| x >= REVIEW_THRESHOLD),
            );
        } else {
            report.info("e", format!("TokenReview (SA JWT) throughput, {c} clients"), text);
        }
    }

    let mut micro_table = String::new();
    match micro {
        Ok((mut rbac, (mut peek, mut verify), mut ring)) => {
            let users = micro::users();
            let p99s: Vec<Option<f64>> = rbac.iter_mut().map(|s| s.percentile_us(99.0)).collect();
            let worst = p99s.iter().copied().flatten().fold(None, |a: Option<f64>, b| Some(a.map_or(b, |a| a.max(b))));
            report.check(
                "e",
                "in-process RBAC decision p99 (x509 / token / SA), 1,000 RoleBindings",
                p99s.iter().map(|p| p.map_or("n/a".into(), |p| format!("{p:.1} µs"))).collect::<Vec<_>>().join(" / "),
                "< 1 ms",
                worst.map(|w| w < ADDED_P99_LIMIT_MS * 1000.0),
            );
            let verify_rate = verify.rate_per_core();
            report.info(
                "e",
                "in-process SA JWT verification (RS256, jsonwebtoken/rsa) p50 / p99, per core",
                format!(
                    "{:.1} µs / {:.1} µs, {} per core",
                    verify.percentile_us(50.0).unwrap_or(f64::NAN),
                    verify.percentile_us(99.0).unwrap_or(f64::NAN),
                    rate(verify_rate)
                ),
            );
            report.info(
                "e",
                "in-process RS256 signature check with ring (for comparison) p50, per core",
                format!("{:.1} µs, {} per core", ring.percentile_us(50.0).unwrap_or(f64::NAN), rate(ring.rate_per_core())),
            );
            let _ = writeln!(micro_table, "In-process (no HTTP, TLS or scheduling; each call timed on its own):\n");
            let _ = writeln!(micro_table, "| operation | calls | p50 | p99 | calls/s per core |");
            let _ = writeln!(micro_table, "|---|---|---|---|---|");
            for ((label, _), s) in users.iter().zip(rbac.iter_mut()) {
                let _ = writeln!(
                    micro_table,
                    "| RBAC decision, {label} identity (bootstrap policy + 1,000 RoleBindings) | {} | {:.2} µs | {:.2} µs | {} |",
                    s.len(),
                    s.percentile_us(50.0).unwrap_or(f64::NAN),
                    s.percentile_us(99.0).unwrap_or(f64::NAN),
                    rate(s.rate_per_core())
                );
            }
            for (label, s) in [
                ("SA JWT: unverified decode (issuer peek)", &mut peek),
                ("SA JWT: RS256 signature + claims (`Issuer::verify`: ring signature, claims checked)", &mut verify),
                ("SA JWT: RS256 signature only, ring (comparison; not what the server runs)", &mut ring),
            ] {
                let _ = writeln!(
                    micro_table,
                    "| {label} | {} | {:.2} µs | {:.2} µs | {} |",
                    s.len(),
                    s.percentile_us(50.0).unwrap_or(f64::NAN),
                    s.percentile_us(99.0).unwrap_or(f64::NAN),
                    rate(s.rate_per_core())
                );
            }
        }
        Err(e) => report.problem(format!("[e] in-process timings failed: {e:#}")),
    }

    let mut t = String::new();
    let _ = writeln!(
        t,
        "### e. Authentication and authorization (1,000 RoleBindings; GET of one ConfigMap; medians over {} round{})\n",
        plan.rounds,
        if plan.rounds == 1 { "" } else { "s" }
    );
    let per_round = m.sequential.first().map_or(0, |(_, _, n)| *n);
    let _ = writeln!(
        t,
        "Sequential: one keep-alive connection per variant, requests interleaved one by one across the variants, \
         {per_round} per variant per round. \"Added\" = the variant's figure minus the reference's in the same round.\n"
    );
    let seq_cpu = |f: fn(&CpuUse) -> Option<f64>| median(m.sequential_cpu.iter().map(f)).map_or("–".to_string(), |x| format!("{x:.2}"));
    let _ = writeln!(
        t,
        "CPU cores used during the sequential rounds (median): API server {}, harness {}, other processes {}.\n",
        seq_cpu(|c| c.apiserver),
        seq_cpu(|c| c.harness),
        seq_cpu(|c| c.other)
    );
    let _ = writeln!(t, "| variant | p50 | p99 | added p50 / p99 vs TLS admin | added p50 / p99 vs insecure port |");
    let _ = writeln!(t, "|---|---|---|---|---|");
    for v in VARIANTS {
        let vs = |r: Variant| {
            if v == r || (r == Variant::TlsAdmin && v == Variant::Insecure) {
                "–".to_string()
            } else {
                format!("{} / {}", signed_us(paired_difference(&p50s(v), &p50s(r))), signed_us(paired_difference(&p99s(v), &p99s(r))))
            }
        };
        let _ = writeln!(
            t,
            "| {} | {} | {} | {} | {} |",
            v.label(),
            us(median(p50s(v))),
            us(median(p99s(v))),
            vs(Variant::TlsAdmin),
            vs(Variant::Insecure)
        );
    }
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let _ = writeln!(
        t,
        "\n{clients} concurrent clients (one keep-alive connection each), {:.1} s per variant per round, variants in turn. \
         CPU: cores used by the API server / this harness (TLS client included) / other processes ({cores} cores in all).\n",
        plan.concurrent_phase.as_secs_f64()
    );
    let _ = writeln!(
        t,
        "| variant | throughput | p50 | p99 | added p99 vs TLS admin | API server CPU per request | CPU cores: apiserver / harness / other |"
    );
    let _ = writeln!(t, "|---|---|---|---|---|---|---|");
    for v in VARIANTS {
        let r = medians(conc(v));
        let added = if matches!(v, Variant::Insecure | Variant::TlsAdmin) {
            "–".to_string()
        } else {
            signed_us(paired_difference(&conc_p99s(v), &conc_p99s(Variant::TlsAdmin)))
        };
        let f = |x: Option<f64>| x.map_or("–".to_string(), |x| format!("{x:.2}"));
        let _ = writeln!(
            t,
            "| {} | {} | {} | {} | {added} | {} | {} / {} / {} |",
            v.label(),
            rate(r.rate),
            us(r.p50),
            us(r.p99),
            us(median(conc_costs(v))),
            f(r.cpu.apiserver),
            f(r.cpu.harness),
            f(r.cpu.other)
        );
    }
    let _ = writeln!(
        t,
        "\nTokenReview: `POST /apis/authentication.k8s.io/v1/tokenreviews` as the admin (TLS, client certificate), \
         tokens of {REVIEW_ACCOUNTS} service accounts in turn, {:.1} s per client count per round.\n",
        plan.review_phase.as_secs_f64()
    );
    let _ = writeln!(t, "| clients | reviews/s | / 5,000/s | reviews per API server core-second | p50 | p99 | CPU cores: apiserver / harness / other |");
    let _ = writeln!(t, "|---|---|---|---|---|---|---|");
    for (c, rounds) in &m.reviews {
        let r = medians(rounds);
        let f = |x: Option<f64>| x.map_or("–".to_string(), |x| format!("{x:.2}"));
        let _ = writeln!(
            t,
            "| {c} | {} | {} | {} | {} | {} | {} / {} / {} |",
            rate(r.rate),
            r.rate.map_or("n/a".into(), |x| format!("{:.2}×", x / REVIEW_THRESHOLD)),
            rate(median(rounds.iter().map(Round::per_core))),
            us(r.p50),
            us(r.p99),
            f(r.cpu.apiserver),
            f(r.cpu.harness),
            f(r.cpu.other)
        );
    }
    if !micro_table.is_empty() {
        let _ = writeln!(t, "\n{micro_table}");
    }
    report.details.push(t);
    for (what, errors) in [("sequential GETs", &m.sequential_errors), ("concurrent GETs", &m.concurrent_errors), ("TokenReviews", &m.review_errors)] {
        if errors.total() > 0 {
            report.problem(format!("[e] {what}: {}", errors.summary()));
        }
    }
}
