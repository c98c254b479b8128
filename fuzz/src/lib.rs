//! One fuzz input for each parser of what someone else wrote: the fuzz targets
//! (fuzz_targets/*.rs) run these, and so does the regression test
//! (tests/cli/fuzz_regressions.rs, which includes this file), so a saved input is
//! replayed with exactly the checks that found it. None may panic on any input.

use std::path::{Path, PathBuf};

use runai_token::exec_credential::{ExecApiVersion, version_from_exec_info};
use runai_token::kubeconfig::{ContextEdit, ExecUser, edit, parse_model};
use runai_token::profile::{TokenField, parse_text};
use runai_token::token::{Generation, jwt, parse_response};

/// The profiles file, as a user or an editor wrote it. A file that parses must
/// survive a save (serde_yaml, as `profile set` writes it) and parse again.
pub fn profiles(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(file) = parse_text(text) else {
        return;
    };
    let saved = serde_yaml::to_string(&file).expect("a parsed profiles file serializes");
    if let Err(err) = parse_text(&saved) {
        panic!("a saved profiles file does not parse again: {err}\n--- saved:\n{saved}");
    }
}

/// A kubeconfig file: whatever kubectl, a cloud CLI or a person wrote. Reading it with
/// the model (`doctor`, `setup`) and editing it (`setup`) must not panic, and an edit
/// of a file that a Kubernetes client accepts must give a file it accepts too.
///
/// Byte 0 holds flags: bit 0 upserts a context, bit 1 gives it a cluster, bit 2 makes
/// it current, bit 3 writes exec apiVersion v1beta1, bit 4 takes the names from the
/// first line (`user<TAB>context<TAB>cluster<TAB>profile`, each optional) instead of
/// the fixed ones. The rest is the kubeconfig text.
pub fn kubeconfig(data: &[u8]) {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let Ok(mut text) = std::str::from_utf8(rest) else {
        return;
    };
    let mut names = ["runai-acme", "prod", "prod", "acme"];
    if flags & 0x10 != 0 {
        let (first, body) = text.split_once('\n').unwrap_or((text, ""));
        for (slot, name) in names.iter_mut().zip(first.split('\t')) {
            *slot = name;
        }
        text = body;
    }
    let [user, context, cluster, profile] = names;

    let model_ok = parse_model(text, Path::new("k")).is_ok();

    let exec_user = ExecUser {
        user: user.to_owned(),
        command: "kubectl-runai_token".to_owned(),
        profile: profile.to_owned(),
        profiles_file: PathBuf::from("/home/u/.kube/runai-profiles.yaml"),
        api_version: if flags & 0x08 == 0 {
            ExecApiVersion::V1
        } else {
            ExecApiVersion::V1Beta1
        },
        interactive: flags & 0x20 != 0,
    };
    let context_edit = ContextEdit {
        name: context.to_owned(),
        cluster: (flags & 0x02 != 0).then(|| cluster.to_owned()),
        set_current: flags & 0x04 != 0,
    };
    let context_edit = (flags & 0x01 != 0).then_some(&context_edit);
    let Ok(outcome) = edit(text, &exec_user, context_edit) else {
        return;
    };
    // `setup` edits only what parse_model accepts (or an empty file): the result must
    // be accepted too, or setup would write a kubeconfig that kubectl refuses.
    if (text.trim().is_empty() || model_ok)
        && let Err(err) = parse_model(&outcome.text, Path::new("k"))
    {
        panic!(
            "setup's edit of a valid kubeconfig is not valid: {err:#}\n--- before:\n{text}\n--- after:\n{}",
            outcome.text
        );
    }
}

const GENERATIONS: [Generation; 5] = [
    Generation::V2,
    Generation::V1,
    Generation::AppToken,
    Generation::Keycloak,
    Generation::OAuth2,
];

/// A token endpoint's answer: status, content type and body as the server sent them.
///
/// Byte 0 picks the generation (low 3 bits, mod 5), the token field (bit 3) and
/// whether there is a content type (bit 4); bytes 1-2 are the status (big-endian,
/// mod 500, plus 100); then, with a content type, its text up to the first `\n`
/// (lossy UTF-8: a header value can hold anything); the rest is the body.
pub fn token_response(data: &[u8]) {
    let [flags, high, low, rest @ ..] = data else {
        return;
    };
    let generation = GENERATIONS[usize::from(flags & 0x07) % GENERATIONS.len()];
    let field = if flags & 0x08 == 0 {
        TokenField::AccessToken
    } else {
        TokenField::IdToken
    };
    let status = 100 + u16::from_be_bytes([*high, *low]) % 500;
    let (content_type, body) = if flags & 0x10 == 0 {
        (None, rest)
    } else {
        let end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
        let body = rest.get(end + 1..).unwrap_or_default();
        (Some(String::from_utf8_lossy(&rest[..end]).into_owned()), body)
    };
    let _ = parse_response(generation, status, content_type.as_deref(), body, field);
}

/// `KUBERNETES_EXEC_INFO`: JSON that client-go (or anything else) put in the environment.
pub fn exec_info(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = version_from_exec_info(text);
}

/// A token's header and claims, as the token endpoint issued them (`inspect`, expiry).
pub fn jwt(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(decoded) = jwt::decode(text) {
        let _ = decoded.exp();
        let _ = decoded.roles();
    }
}
