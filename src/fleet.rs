//! Fleet mode's decisions (docs/fleet.md): what a Secret on the server holds, whether
//! it needs a new token, the Secret the plugin applies, and when `secret run` wakes
//! up. Nothing here talks to a server or reads the clock: `cmd::secret` does, and
//! passes `now` in.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::time::Timestamp;

/// The server-side apply field manager, and the value of the managed-by label.
pub const FIELD_MANAGER: &str = "kubectl-runai-token";
/// The label that hands a Secret created by someone else over to the plugin.
pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
pub const PROFILE: &str = "runai-token/profile";
pub const EXPIRES_AT: &str = "runai-token/expires-at";
pub const ISSUED_AT: &str = "runai-token/issued-at";
pub const API_URL: &str = "runai-token/api-url";
pub const CLIENT_ID: &str = "runai-token/client-id";
pub const USERNAME: &str = "runai-token/username";

/// Shortest and longest wait after a failure (docs/fleet.md#when-runai-is-down).
pub const BACKOFF_MIN: Duration = Duration::from_secs(1);
pub const BACKOFF_MAX: Duration = Duration::from_secs(300);

/// The Secret and the key of its data that carries the token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub namespace: String,
    pub name: String,
    pub key: String,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// Who may write the Secret, as its metadata says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ownership {
    /// The plugin applied it before, or whoever created it labelled it
    /// `app.kubernetes.io/managed-by: kubectl-runai-token`.
    Plugin,
    /// Someone else's: the field managers that wrote it (may be empty).
    Foreign(Vec<String>),
}

/// The token a Secret holds, when it holds one the plugin can judge: the key is
/// there and not empty, and `runai-token/expires-at` parses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Held {
    pub issued_at: Option<Timestamp>,
    pub expires_at: Timestamp,
}

impl Held {
    /// How long the token lives, when the Secret says when it was issued.
    pub fn lifetime(&self) -> Option<Duration> {
        let seconds = self.issued_at?.seconds_until(self.expires_at);
        (seconds > 0).then(|| Duration::from_secs(seconds as u64))
    }
}

/// What the plugin cares about in a Secret on the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observed {
    pub ownership: Ownership,
    pub held: Option<Held>,
    /// Whose token it is, as its annotations say.
    pub provenance: Provenance,
    pub resource_version: Option<String>,
}

impl Observed {
    pub fn of(secret: &Secret, key: &str) -> Self {
        let meta = &secret.metadata;
        let managers: Vec<String> = meta
            .managed_fields
            .iter()
            .flatten()
            .filter_map(|entry| entry.manager.clone())
            .collect();
        let labelled = meta
            .labels
            .as_ref()
            .and_then(|labels| labels.get(MANAGED_BY))
            .is_some_and(|value| value == FIELD_MANAGER);
        let ownership = if labelled || managers.iter().any(|m| m == FIELD_MANAGER) {
            Ownership::Plugin
        } else {
            let mut managers = managers;
            managers.sort();
            managers.dedup();
            Ownership::Foreign(managers)
        };
        let annotation = |name: &str| meta.annotations.as_ref().and_then(|a| a.get(name));
        let has_token = secret
            .data
            .as_ref()
            .and_then(|data| data.get(key))
            .is_some_and(|value| !value.0.is_empty());
        let held = annotation(EXPIRES_AT)
            .and_then(|text| Timestamp::parse_rfc3339(text))
            .filter(|_| has_token)
            .map(|expires_at| Held {
                issued_at: annotation(ISSUED_AT).and_then(|text| Timestamp::parse_rfc3339(text)),
                expires_at,
            });
        let text = |name: &str| annotation(name).cloned();
        Self {
            ownership,
            held,
            provenance: Provenance {
                profile: text(PROFILE).unwrap_or_default(),
                api_url: text(API_URL),
                client_id: text(CLIENT_ID).unwrap_or_default(),
                username: text(USERNAME),
            },
            resource_version: meta.resource_version.clone(),
        }
    }
}

/// How long a token must still be valid to be left in place.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum MinValidity {
    /// `--min-validity`.
    Fixed(Duration),
    /// This fraction of the token's own lifetime: a third for `secret apply`, the
    /// part after the renewal point for `secret run`.
    OfLifetime(f64),
}

impl MinValidity {
    /// The default of `secret apply`.
    pub const DEFAULT: Self = Self::OfLifetime(1.0 / 3.0);

    /// What a fraction means when the lifetime is unknown: `get`'s default.
    pub const UNKNOWN_LIFETIME: Duration = Duration::from_secs(60);

    /// The duration for a token of `lifetime`.
    pub fn for_lifetime(self, lifetime: Option<Duration>) -> Duration {
        match self {
            Self::Fixed(duration) => duration,
            Self::OfLifetime(fraction) => lifetime.map_or(Self::UNKNOWN_LIFETIME, |l| l.mul_f64(fraction)),
        }
    }

    /// When `held` stops being good enough: `secret run` renews then. Whole seconds
    /// rounded so that at that second the token is due (not kept a second longer).
    pub fn due_at(self, held: &Held) -> Timestamp {
        held.expires_at
            .minus(Duration::from_secs(self.for_lifetime(held.lifetime()).as_secs()))
    }

    /// Whether a token valid until `expires_at` is still good enough at `now`.
    pub fn satisfied(self, expires_at: Timestamp, lifetime: Option<Duration>, now: Timestamp) -> bool {
        let left = now.seconds_until(expires_at);
        left > 0 && Duration::from_secs(left as u64) > self.for_lifetime(lifetime)
    }
}

/// What to do about the Secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Plan {
    /// It holds a token valid long enough: write nothing.
    Keep(Held),
    /// Apply a new token (over `resource_version`, when the Secret exists).
    Write { resource_version: Option<String> },
    /// It is someone else's and `--force` was not given.
    Refuse(Vec<String>),
}

/// The decision for the Secret as observed (`None`: it does not exist), for a token
/// of `wanted`: one of another profile, API, client or user is replaced however
/// long it is valid.
pub fn plan(
    observed: Option<&Observed>,
    wanted: &Provenance,
    min_validity: MinValidity,
    force: bool,
    now: Timestamp,
) -> Plan {
    let Some(observed) = observed else {
        return Plan::Write { resource_version: None };
    };
    if let Ownership::Foreign(managers) = &observed.ownership
        && !force
    {
        return Plan::Refuse(managers.clone());
    }
    match observed.held {
        Some(held)
            if observed.provenance == *wanted && min_validity.satisfied(held.expires_at, held.lifetime(), now) =>
        {
            Plan::Keep(held)
        }
        _ => Plan::Write {
            resource_version: observed.resource_version.clone(),
        },
    }
}

/// Whose token it is, written beside it (and compared before it is kept).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Provenance {
    pub profile: String,
    pub api_url: Option<String>,
    pub client_id: String,
    /// A person's, for the user grants.
    pub username: Option<String>,
}

/// The token to write, and when it was obtained and expires.
pub struct Issued<'a> {
    pub value: &'a str,
    pub held: Held,
}

/// The Secret to apply: the token under the key, the label, the annotations, and the
/// resource version as a precondition when the Secret exists (a concurrent writer
/// then makes the apply fail with 409 instead of being overwritten unseen).
pub fn desired(target: &Target, provenance: &Provenance, token: &Issued<'_>, resource_version: Option<&str>) -> Secret {
    let mut annotations = BTreeMap::from([
        (PROFILE.to_owned(), provenance.profile.clone()),
        (CLIENT_ID.to_owned(), provenance.client_id.clone()),
        (EXPIRES_AT.to_owned(), token.held.expires_at.to_string()),
    ]);
    if let Some(username) = &provenance.username {
        annotations.insert(USERNAME.to_owned(), username.clone());
    }
    if let Some(issued_at) = token.held.issued_at {
        annotations.insert(ISSUED_AT.to_owned(), issued_at.to_string());
    }
    if let Some(url) = &provenance.api_url {
        annotations.insert(API_URL.to_owned(), url.clone());
    }
    Secret {
        metadata: ObjectMeta {
            name: Some(target.name.clone()),
            namespace: Some(target.namespace.clone()),
            labels: Some(BTreeMap::from([(MANAGED_BY.to_owned(), FIELD_MANAGER.to_owned())])),
            annotations: Some(annotations),
            resource_version: resource_version.map(str::to_owned),
            ..ObjectMeta::default()
        },
        data: Some(BTreeMap::from([(
            target.key.clone(),
            ByteString(token.value.as_bytes().to_vec()),
        )])),
        ..Secret::default()
    }
}

/// Exponential backoff from [`BACKOFF_MIN`] to [`BACKOFF_MAX`], each wait drawn
/// between half and all of its step, so that replicas that failed together do not
/// retry together.
#[derive(Debug, Default)]
pub struct Backoff {
    failures: u32,
}

impl Backoff {
    /// The wait after one more failure; `random` is any uniformly random number.
    pub fn next(&mut self, random: u64) -> Duration {
        let step = BACKOFF_MIN
            .saturating_mul(1u32 << self.failures.min(16))
            .min(BACKOFF_MAX);
        self.failures = self.failures.saturating_add(1);
        crate::time::jittered(step, random)
    }

    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

/// A Kubernetes object name (RFC 1123 subdomain, as a Secret's name must be).
pub fn valid_name(name: &str) -> bool {
    name.len() <= 253
        && !name.is_empty()
        && name.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// A namespace name (RFC 1123 label).
pub fn valid_namespace(name: &str) -> bool {
    name.len() <= 63 && !name.contains('.') && valid_name(name)
}

/// A key of a Secret's data: `[-._a-zA-Z0-9]+`, at most 253 characters, not `.` or `..`.
pub fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 253
        && key != "."
        && key != ".."
        && key
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_' || c == b'.')
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry;

    const NOW: Timestamp = Timestamp(1_000_000);

    fn target() -> Target {
        Target {
            namespace: "fleet".into(),
            name: "runai-token".into(),
            key: "token".into(),
        }
    }

    fn on_server(managers: &[&str], annotations: &[(&str, &str)], token: Option<&str>) -> Secret {
        Secret {
            metadata: ObjectMeta {
                name: Some("runai-token".into()),
                resource_version: Some("7".into()),
                managed_fields: Some(
                    managers
                        .iter()
                        .map(|m| ManagedFieldsEntry {
                            manager: Some((*m).into()),
                            ..ManagedFieldsEntry::default()
                        })
                        .collect(),
                ),
                annotations: Some(
                    annotations
                        .iter()
                        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                        .collect(),
                ),
                ..ObjectMeta::default()
            },
            data: token.map(|t| BTreeMap::from([("token".to_owned(), ByteString(t.as_bytes().to_vec()))])),
            ..Secret::default()
        }
    }

    // NOW is 1970-01-12T13:46:40Z.
    const ISSUED: &str = "1970-01-12T13:36:40Z"; // NOW - 600 s
    const EXPIRES: &str = "1970-01-12T14:36:40Z"; // NOW + 3000 s: a 3600 s token

    #[test]
    fn a_secret_the_plugin_wrote_is_observed_with_its_token() {
        let secret = on_server(
            &["kubectl-create", FIELD_MANAGER],
            &[(ISSUED_AT, ISSUED), (EXPIRES_AT, EXPIRES)],
            Some("t"),
        );
        let observed = Observed::of(&secret, "token");
        assert_eq!(observed.ownership, Ownership::Plugin);
        let held = observed.held.unwrap();
        assert_eq!(held.expires_at, Timestamp(1_003_000));
        assert_eq!(held.lifetime(), Some(Duration::from_secs(3600)));
        assert_eq!(observed.resource_version.as_deref(), Some("7"));
        // Another key, an empty token, or an unreadable expiry hold nothing.
        assert_eq!(Observed::of(&secret, "other").held, None);
        let empty = on_server(&[FIELD_MANAGER], &[(EXPIRES_AT, EXPIRES)], Some(""));
        assert_eq!(Observed::of(&empty, "token").held, None);
        let garbled = on_server(&[FIELD_MANAGER], &[(EXPIRES_AT, "tomorrow")], Some("t"));
        assert_eq!(Observed::of(&garbled, "token").held, None);
    }

    #[test]
    fn ownership_is_the_field_manager_or_the_label() {
        let foreign = on_server(&["kubectl-create", "helm", "kubectl-create"], &[], None);
        assert_eq!(
            Observed::of(&foreign, "token").ownership,
            Ownership::Foreign(vec!["helm".into(), "kubectl-create".into()])
        );
        let mut labelled = foreign.clone();
        labelled.metadata.labels = Some(BTreeMap::from([(MANAGED_BY.into(), FIELD_MANAGER.into())]));
        assert_eq!(Observed::of(&labelled, "token").ownership, Ownership::Plugin);
        let mut other_label = foreign;
        other_label.metadata.labels = Some(BTreeMap::from([(MANAGED_BY.into(), "Helm".into())]));
        assert!(matches!(
            Observed::of(&other_label, "token").ownership,
            Ownership::Foreign(_)
        ));
    }

    #[test]
    fn plans() {
        let ours = |annotations: &[(&str, &str)]| {
            let mut annotations = annotations.to_vec();
            annotations.extend([(PROFILE, "acme"), (CLIENT_ID, "ci-bot")]);
            Observed::of(&on_server(&[FIELD_MANAGER], &annotations, Some("t")), "token")
        };
        let fresh = ours(&[(ISSUED_AT, ISSUED), (EXPIRES_AT, EXPIRES)]);
        let write = Plan::Write {
            resource_version: Some("7".into()),
        };
        // 3000 s left of 3600: more than a third.
        assert!(matches!(
            plan(Some(&fresh), &wanted(), MinValidity::DEFAULT, false, NOW),
            Plan::Keep(_)
        ));
        assert_eq!(
            plan(
                Some(&fresh),
                &wanted(),
                MinValidity::DEFAULT,
                false,
                NOW.plus(Duration::from_secs(1800))
            ),
            write
        );
        assert_eq!(
            plan(
                Some(&fresh),
                &wanted(),
                MinValidity::Fixed(Duration::from_secs(3000)),
                false,
                NOW
            ),
            write
        );
        assert!(matches!(
            plan(
                Some(&fresh),
                &wanted(),
                MinValidity::Fixed(Duration::from_secs(2999)),
                false,
                NOW
            ),
            Plan::Keep(_)
        ));
        // No issue time: a fraction of an unknown lifetime is a minute.
        let no_issue = ours(&[(EXPIRES_AT, EXPIRES)]);
        assert!(matches!(
            plan(Some(&no_issue), &wanted(), MinValidity::DEFAULT, false, NOW),
            Plan::Keep(_)
        ));
        assert!(matches!(
            plan(
                Some(&no_issue),
                &wanted(),
                MinValidity::DEFAULT,
                false,
                Timestamp(1_002_939)
            ),
            Plan::Keep(_)
        ));
        assert_eq!(
            plan(
                Some(&no_issue),
                &wanted(),
                MinValidity::DEFAULT,
                false,
                Timestamp(1_002_940)
            ),
            write
        );
        // Nothing held, nothing there, someone else's.
        assert_eq!(
            plan(Some(&ours(&[])), &wanted(), MinValidity::DEFAULT, false, NOW),
            write
        );
        assert_eq!(
            plan(None, &wanted(), MinValidity::DEFAULT, false, NOW),
            Plan::Write { resource_version: None }
        );
        let foreign = Observed::of(&on_server(&["kubectl-create"], &[], None), "token");
        assert_eq!(
            plan(Some(&foreign), &wanted(), MinValidity::DEFAULT, false, NOW),
            Plan::Refuse(vec!["kubectl-create".into()])
        );
        assert_eq!(plan(Some(&foreign), &wanted(), MinValidity::DEFAULT, true, NOW), write);
        // A valid token of another client, profile or user is replaced.
        for other in [
            Provenance {
                client_id: "other".into(),
                ..wanted()
            },
            Provenance {
                profile: "prod".into(),
                ..wanted()
            },
            Provenance {
                username: Some("alice".into()),
                ..wanted()
            },
            Provenance {
                api_url: Some("https://other.run.ai".into()),
                ..wanted()
            },
        ] {
            assert_eq!(plan(Some(&fresh), &other, MinValidity::DEFAULT, false, NOW), write);
        }
    }

    fn wanted() -> Provenance {
        Provenance {
            profile: "acme".into(),
            api_url: None,
            client_id: "ci-bot".into(),
            username: None,
        }
    }

    #[test]
    fn renewal_is_due_when_the_token_would_no_longer_be_kept() {
        let half = MinValidity::OfLifetime(0.5);
        let held = Held {
            issued_at: Some(Timestamp(100)),
            expires_at: Timestamp(120),
        };
        assert_eq!(half.due_at(&held), Timestamp(110));
        // 15 s at one half: due at 108 (7 s left, less than 7.5), kept at 107 (8 s).
        let odd = Held {
            issued_at: Some(Timestamp(100)),
            expires_at: Timestamp(115),
        };
        assert_eq!(half.due_at(&odd), Timestamp(108));
        assert!(!half.satisfied(odd.expires_at, odd.lifetime(), Timestamp(108)));
        assert!(half.satisfied(odd.expires_at, odd.lifetime(), Timestamp(107)));
        let unknown = Held {
            issued_at: None,
            expires_at: Timestamp(1000),
        };
        assert_eq!(half.due_at(&unknown), Timestamp(940));
        assert_eq!(
            MinValidity::Fixed(Duration::from_secs(300)).due_at(&held),
            Timestamp(-180)
        );
    }

    #[test]
    fn the_applied_secret() {
        let token = Issued {
            value: "tok",
            held: Held {
                issued_at: Some(Timestamp(1_136_214_245)),
                expires_at: Timestamp(1_136_217_845),
            },
        };
        let provenance = Provenance {
            profile: "acme".into(),
            api_url: Some("https://acme.run.ai".into()),
            client_id: "ci-bot".into(),
            username: None,
        };
        let secret = desired(&target(), &provenance, &token, Some("7"));
        // What goes on the wire, compared as JSON written by hand.
        assert_eq!(
            serde_json::to_value(&secret).unwrap(),
            serde_json::json!({
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {
                    "name": "runai-token",
                    "namespace": "fleet",
                    "resourceVersion": "7",
                    "labels": {"app.kubernetes.io/managed-by": "kubectl-runai-token"},
                    "annotations": {
                        "runai-token/profile": "acme",
                        "runai-token/client-id": "ci-bot",
                        "runai-token/api-url": "https://acme.run.ai",
                        "runai-token/issued-at": "2006-01-02T15:04:05Z",
                        "runai-token/expires-at": "2006-01-02T16:04:05Z"
                    }
                },
                "data": {"token": "dG9r"}
            })
        );
        // Read back, it is the plugin's, holding that token, of that profile.
        let observed = Observed::of(&secret, "token");
        assert_eq!(observed.ownership, Ownership::Plugin);
        assert_eq!(observed.provenance, provenance);
        assert_eq!(observed.held.unwrap().lifetime(), Some(Duration::from_secs(3600)));
    }

    #[test]
    fn backoff_doubles_with_jitter_up_to_five_minutes() {
        let mut backoff = Backoff::default();
        let waits: Vec<Duration> = (0..12).map(|_| backoff.next(u64::MAX)).collect();
        // random = u64::MAX lands anywhere in [half, all]; the bounds are what matters.
        let mut lows = Backoff::default();
        let mut highs = Backoff::default();
        for (i, wait) in waits.iter().enumerate() {
            let step = Duration::from_secs((1u64 << i).min(300));
            assert!(*wait >= step / 2 && *wait <= step, "{i}: {wait:?}");
            assert_eq!(lows.next(0), step / 2);
            assert_eq!(highs.next((step.as_millis() / 2) as u64), step);
        }
        backoff.reset();
        assert_eq!(backoff.next(0), Duration::from_millis(500));
    }

    #[test]
    fn names_keys_and_namespaces() {
        for good in ["runai-token", "a", "a.b-c", "0x"] {
            assert!(valid_name(good), "{good}");
        }
        for bad in ["", "A", "-a", "a-", "a..b", "a_b", &"x".repeat(254)] {
            assert!(!valid_name(bad), "{bad}");
        }
        assert!(valid_namespace("fleet") && !valid_namespace("a.b") && !valid_namespace(&"x".repeat(64)));
        for good in ["token", "TOKEN_1", ".dot", "a-b.c"] {
            assert!(valid_key(good), "{good}");
        }
        for bad in ["", ".", "..", "a/b", "a b", "é"] {
            assert!(!valid_key(bad), "{bad}");
        }
    }
}
