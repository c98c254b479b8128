//! The test realm (tests/realm/realm.mjs): started once per test process, stopped
//! when the process exits (its stdin closes). Each test creates its own tenant.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock, mpsc};
use std::time::Duration;

use serde_json::{Value, json};

use super::{http, in_ci};

pub struct Realm {
    pub admin: String,
    // Held open for the life of the test process: EOF stops the realm.
    _stdin: Mutex<ChildStdin>,
    // Kept so the realm is a known child of the test process until it exits.
    _child: Mutex<Child>,
}

static REALM: OnceLock<Realm> = OnceLock::new();

/// The realm of this test process, started on first use.
pub fn realm() -> &'static Realm {
    REALM.get_or_init(start)
}

fn start() -> Realm {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests").join("realm");
    let how = "run `scripts/realm-install` (the README's test command runs it)";
    assert!(
        dir.join("node_modules").join("oidc-provider").exists(),
        "the test realm's packages are not installed: {how}{}",
        if in_ci() {
            " (CI=true: a missing peer is a failure)"
        } else {
            ""
        }
    );
    let mut child = Command::new("node")
        .arg("realm.mjs")
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|err| panic!("cannot start node (Node.js 20+ is required for the test realm): {err}"));
    let stdout = child.stdout.take().unwrap();
    let (send, receive) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = send.send(line);
    });
    let line = receive
        .recv_timeout(Duration::from_secs(30))
        .expect("the realm did not get ready within 30 s");
    let ready: Value = serde_json::from_str(line.trim()).unwrap_or_else(|_| panic!("bad ready line {line:?}"));
    let admin = ready["admin"].as_str().expect("admin URL").to_owned();
    let stdin = child.stdin.take().unwrap();
    Realm {
        admin,
        _stdin: Mutex::new(stdin),
        _child: Mutex::new(child),
    }
}

impl Realm {
    pub fn call(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let text = body.map(Value::to_string);
        let (status, payload) = http::request(method, &format!("{}{path}", self.admin), text.as_deref());
        let value = if payload.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&payload).unwrap_or(Value::String(payload))
        };
        (status, value)
    }

    /// A new tenant.
    pub fn tenant(&self, spec: TenantSpec) -> Tenant {
        let (status, body) = self.call("POST", "/tenants", Some(&spec.to_json()));
        assert_eq!(status, 201, "POST /tenants: {body}");
        let text = |key: &str| body[key].as_str().map(str::to_owned);
        Tenant {
            id: text("id").unwrap(),
            url: text("url").unwrap(),
            realm: text("realm").unwrap(),
            issuer: text("issuer").unwrap(),
            kube_url: text("kubeUrl"),
            ca: text("ca").unwrap(),
            clients: spec.clients,
            plain_issuer: text("plainIssuer").unwrap(),
            users: spec.users,
        }
    }

    /// A forward proxy that records what went through it.
    pub fn proxy(&self) -> (String, String) {
        let (status, body) = self.call("POST", "/proxies", None);
        assert_eq!(status, 201, "POST /proxies: {body}");
        (
            body["id"].as_str().unwrap().to_owned(),
            body["url"].as_str().unwrap().to_owned(),
        )
    }

    pub fn proxy_requests(&self, id: &str) -> Vec<Value> {
        let (status, body) = self.call("GET", &format!("/proxies/{id}/requests"), None);
        assert_eq!(status, 200);
        body.as_array().cloned().unwrap_or_default()
    }
}

/// A client of a tenant.
#[derive(Clone, Debug)]
pub struct Client {
    pub id: String,
    pub secret: String,
    pub roles: Vec<String>,
}

/// What to create a tenant with (the defaults: all four endpoints, one
/// Administrator client with a unique secret).
#[derive(Clone, Debug)]
pub struct TenantSpec {
    pub realm: String,
    pub endpoints: Vec<&'static str>,
    pub html: bool,
    pub clients: Vec<Client>,
    pub ttl: u64,
    pub expires_in: bool,
    pub tls: bool,
    pub clock_skew: i64,
    pub kube: bool,
    pub users: Vec<User>,
}

/// A person of a tenant, with a password unique to this test run.
#[derive(Clone, Debug)]
pub struct User {
    pub username: String,
    pub password: String,
    pub name: String,
    pub roles: Vec<String>,
}

/// The public client id the realm registers for the user grants.
pub const USER_CLIENT: &str = "runai-cli";

/// A user whose password is unique to this test run (so a leak is unambiguous), and
/// needs form and JSON encoding.
pub fn user(username: &str, roles: &[&str]) -> User {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    User {
        username: username.to_owned(),
        password: format!("pw+{}/{n} &\"Kq7", std::process::id()),
        name: format!("Name of {username}"),
        roles: roles.iter().map(|r| (*r).to_owned()).collect(),
    }
}

impl Default for TenantSpec {
    fn default() -> Self {
        Self {
            realm: "acme".to_owned(),
            endpoints: vec!["v2", "v1", "app-token", "keycloak"],
            html: false,
            clients: vec![client("ci-bot", &["Administrator"])],
            ttl: 3600,
            expires_in: true,
            tls: false,
            clock_skew: 0,
            kube: false,
            users: vec![user("alice@acme.com", &["Researcher"])],
        }
    }
}

/// A client with a secret unique to this test run (so a leak is unambiguous).
pub fn client(id: &str, roles: &[&str]) -> Client {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    Client {
        id: id.to_owned(),
        secret: format!("sec-{}-{n}-Zq9wX3vLp7", std::process::id()),
        roles: roles.iter().map(|r| (*r).to_owned()).collect(),
    }
}

impl TenantSpec {
    pub fn endpoints(mut self, endpoints: &[&'static str]) -> Self {
        self.endpoints = endpoints.to_vec();
        self
    }

    pub fn html(mut self) -> Self {
        self.html = true;
        self
    }

    pub fn ttl(mut self, ttl: u64) -> Self {
        self.ttl = ttl;
        self
    }

    pub fn no_expires_in(mut self) -> Self {
        self.expires_in = false;
        self
    }

    pub fn tls(mut self) -> Self {
        self.tls = true;
        self
    }

    pub fn kube(mut self) -> Self {
        self.kube = true;
        self
    }

    pub fn clock_skew(mut self, seconds: i64) -> Self {
        self.clock_skew = seconds;
        self
    }

    /// One client, `id`, with these realm roles, instead of the default one.
    pub fn only_client(mut self, id: &str, roles: &[&str]) -> Self {
        self.clients = vec![client(id, roles)];
        self
    }

    fn to_json(&self) -> Value {
        json!({
            "realm": self.realm,
            "endpoints": self.endpoints,
            "html": self.html,
            "clients": self.clients.iter().map(|c| json!({"id": c.id, "secret": c.secret, "roles": c.roles})).collect::<Vec<_>>(),
            "ttl": self.ttl,
            "expiresIn": self.expires_in,
            "tls": self.tls,
            "clockSkew": self.clock_skew,
            "kube": self.kube,
            "users": self.users.iter().map(|u| json!({"username": u.username, "password": u.password, "name": u.name, "roles": u.roles})).collect::<Vec<_>>(),
            "deviceInterval": 1,
        })
    }
}

/// A tenant: one fake Run:ai control plane.
#[derive(Debug)]
pub struct Tenant {
    pub id: String,
    pub url: String,
    pub realm: String,
    pub issuer: String,
    pub kube_url: Option<String>,
    pub ca: String,
    pub clients: Vec<Client>,
    /// `{url}/oidc`: an OpenID issuer with oidc-provider's own route names.
    pub plain_issuer: String,
    pub users: Vec<User>,
}

impl Tenant {
    pub fn client(&self) -> &Client {
        &self.clients[0]
    }

    pub fn user(&self) -> &User {
        &self.users[0]
    }

    /// The grant types of the token requests so far, in order.
    pub fn grants(&self) -> Vec<String> {
        self.requests()
            .iter()
            .filter(|r| r["listener"] == "tenant" && r["method"] == "POST")
            .filter_map(|r| r["grantType"].as_str().map(str::to_owned))
            .collect()
    }

    /// Queues scripted answers (see tests/realm/README.md).
    pub fn faults(&self, faults: Value) {
        let (status, body) = realm().call("POST", &format!("/tenants/{}/faults", self.id), Some(&faults));
        assert_eq!(status, 204, "faults: {body}");
    }

    pub fn requests(&self) -> Vec<Value> {
        let (status, body) = realm().call("GET", &format!("/tenants/{}/requests", self.id), None);
        assert_eq!(status, 200, "requests: {body}");
        body.as_array().cloned().unwrap_or_default()
    }

    /// Paths of the token requests so far, in order.
    pub fn token_requests(&self) -> Vec<String> {
        self.requests()
            .iter()
            .filter(|r| r["listener"] == "tenant" && r["method"] == "POST")
            .filter_map(|r| r["path"].as_str().map(str::to_owned))
            .filter(|p| p.ends_with("/token"))
            .collect()
    }

    pub fn revoke(&self) {
        let (status, body) = realm().call("POST", &format!("/tenants/{}/revoke", self.id), None);
        assert_eq!(status, 204, "revoke: {body}");
    }

    /// Adds a client or replaces one (secret rotation).
    pub fn put_client(&self, client: &Client) {
        let body = json!({"id": client.id, "secret": client.secret, "roles": client.roles});
        let (status, reply) = realm().call("POST", &format!("/tenants/{}/clients", self.id), Some(&body));
        assert_eq!(status, 204, "clients: {reply}");
    }

    /// A profile named `name` for this tenant's first client, secret inline.
    pub fn profile(&self, name: &str, extra: &str) -> String {
        let client = self.client();
        super::profile_yaml(
            name,
            self,
            &client.id,
            &format!("client-secret: {}", client.secret),
            extra,
        )
    }
}

impl Tenant {
    /// The requests its Kubernetes API stand-in saw, in order (see `requests`).
    pub fn kube_requests(&self) -> Vec<Value> {
        self.requests()
            .into_iter()
            .filter(|r| r["listener"] == "kube")
            .collect()
    }
}
