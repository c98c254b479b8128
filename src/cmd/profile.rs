//! `profile list / show / set / delete / use`: the profiles file, edited under its
//! lock and written atomically with mode 0600. `show` never prints a secret.

use std::io::Read;

use crate::Context;
use crate::cli::{ProfileCommand, ProfileNameArg, ProfileSetArgs};
use crate::config_error;
use crate::error::{ConfigError, Exit};
use crate::output::{self, table};
use crate::profile::{self, LoadedFile, Profile};
use crate::secret::Secret;

pub fn run(ctx: &Context<'_>, command: ProfileCommand) -> anyhow::Result<Exit> {
    let paths = ctx.paths()?;
    let path = &paths.profiles_file;
    match command {
        ProfileCommand::List => {
            let file = LoadedFile::load(path)?;
            output::stdout(&list(&file))?;
        }
        ProfileCommand::Show(ProfileNameArg { name }) => {
            let file = LoadedFile::load(path)?;
            let profile = file.select(Some(&name))?;
            output::stdout(&show(profile)?)?;
        }
        ProfileCommand::Set(args) => {
            let _lock = profile::lock_for_update(path)?;
            let mut loaded = LoadedFile::load_or_default(path)?;
            let created = set(&mut loaded.file, *args, &mut std::io::stdin())?;
            LoadedFile::save(path, &loaded.file)?;
            let verb = if created.1 { "created" } else { "updated" };
            output::stdout(&format!("profile {:?} {verb} in {}\n", created.0, path.display()))?;
        }
        ProfileCommand::Delete(ProfileNameArg { name }) => {
            let _lock = profile::lock_for_update(path)?;
            let mut loaded = LoadedFile::load(path)?;
            loaded.select(Some(&name))?;
            loaded.file.profiles.retain(|p| p.name != name);
            if loaded.file.current_profile.as_deref() == Some(name.as_str()) {
                loaded.file.current_profile = None;
            }
            LoadedFile::save(path, &loaded.file)?;
            output::stdout(&format!("profile {name:?} deleted from {}\n", path.display()))?;
        }
        ProfileCommand::Use(ProfileNameArg { name }) => {
            let _lock = profile::lock_for_update(path)?;
            let mut loaded = LoadedFile::load(path)?;
            loaded.select(Some(&name))?;
            loaded.file.current_profile = Some(name.clone());
            LoadedFile::save(path, &loaded.file)?;
            output::stdout(&format!("current profile is now {name:?}\n"))?;
        }
    }
    Ok(Exit::Success)
}

fn list(file: &LoadedFile) -> String {
    let mut rows = vec![["CURRENT", "NAME", "URL", "API", "AUTH", "CLIENT-ID"].map(str::to_owned)];
    let current = file.file.current_profile.as_deref();
    let only = file.file.profiles.len() == 1 && current.is_none();
    for p in &file.file.profiles {
        let mark = if current == Some(p.name.as_str()) || only {
            "*"
        } else {
            ""
        };
        rows.push([
            mark.to_owned(),
            p.name.clone(),
            p.url.clone(),
            p.api.unwrap_or_default().as_str().to_owned(),
            p.auth.unwrap_or_default().as_str().to_owned(),
            p.client_id.clone(),
        ]);
    }
    table(&rows)
}

/// The profile as YAML, with an inline secret left out and said so.
fn show(profile: &Profile) -> anyhow::Result<String> {
    let mut shown = profile.clone();
    let inline = shown.client_secret.take().is_some();
    let mut text = profile::to_yaml(&shown)?;
    if inline {
        text.push_str("# client-secret: set inline in the profiles file (not shown)\n");
    }
    Ok(text)
}

/// Applies `args` to the file; returns the profile's name and whether it is new.
fn set(file: &mut profile::ProfilesFile, args: ProfileSetArgs, stdin: &mut dyn Read) -> anyhow::Result<(String, bool)> {
    profile::check_name(&args.name)?;
    let existing = file.profiles.iter().position(|p| p.name == args.name);
    let created = existing.is_none();
    let mut p = match existing {
        Some(index) => file.profiles[index].clone(),
        None => {
            let missing: Vec<&str> = [("--url", args.url.is_none()), ("--client-id", args.client_id.is_none())]
                .into_iter()
                .filter_map(|(flag, missing)| missing.then_some(flag))
                .collect();
            if !missing.is_empty() {
                return Err(ConfigError::new(format!("new profile {:?} needs {}", args.name, missing.join(" and ")))
                    .with_hint("a secret source too: --client-secret-file, --client-secret-env, --client-secret-command or --client-secret-stdin")
                    .into());
            }
            Profile {
                name: args.name.clone(),
                ..Profile::default()
            }
        }
    };
    for key in &args.unset {
        unset(&mut p, key)?;
    }
    if let Some(v) = args.url {
        p.url = v;
    }
    if let Some(v) = args.api {
        p.api = Some(v.into());
    }
    if let Some(v) = args.researcher_url {
        p.researcher_url = Some(v);
    }
    if let Some(v) = args.auth {
        p.auth = Some(v.into());
    }
    if let Some(v) = args.realm {
        p.realm = Some(v);
    }
    if let Some(v) = args.token_url {
        p.token_url = Some(v);
    }
    if let Some(v) = args.client_id {
        p.client_id = v;
    }
    if let Some(v) = args.token_field {
        p.token_field = Some(v.into());
    }
    if let Some(v) = args.scope {
        p.scope = Some(v);
    }
    if let Some(v) = args.certificate_authority {
        p.certificate_authority = Some(v);
    }
    if let Some(v) = args.certificate_authority_data {
        p.certificate_authority_data = Some(v);
    }
    if let Some(v) = args.insecure_skip_tls_verify {
        p.insecure_skip_tls_verify = Some(v);
    }
    if let Some(v) = args.timeout {
        p.timeout = Some(v);
    }
    if let Some(v) = args.grant {
        p.grant = Some(v.into());
    }
    if let Some(v) = args.issuer {
        p.issuer = Some(v);
    }
    if let Some(v) = args.username {
        p.username = Some(v);
    }
    if let Some(v) = args.scopes {
        p.scopes = Some(v);
    }
    if let Some(v) = args.listen_address {
        p.listen_address = Some(v);
    }
    if let Some(path) = args.client_secret_file {
        p.clear_secret_sources();
        p.client_secret_file = Some(path);
    } else if let Some(var) = args.client_secret_env {
        p.clear_secret_sources();
        p.client_secret_env = Some(var);
    } else if let Some(command) = args.client_secret_command {
        let argv = split_words(&command).map_err(|err| config_error!("--client-secret-command: {err}"))?;
        p.clear_secret_sources();
        p.client_secret_command = Some(argv);
    } else if args.client_secret_stdin {
        let mut secret = String::new();
        stdin
            .read_to_string(&mut secret)
            .map_err(|err| config_error!("cannot read the secret from stdin: {err}"))?;
        let secret = secret.trim();
        if secret.is_empty() {
            return Err(config_error!("--client-secret-stdin: stdin was empty"));
        }
        p.clear_secret_sources();
        p.client_secret = Some(Secret::new(secret.to_owned()));
    }
    // A person's client is usually public: its secret is optional (docs/profiles.md).
    if p.secret_sources().is_empty() && !p.grant.unwrap_or_default().is_user() {
        return Err(ConfigError::new(format!("profile {:?} needs a secret source", p.name))
            .with_hint("--client-secret-file, --client-secret-env, --client-secret-command or --client-secret-stdin")
            .into());
    }
    profile::check_static(&p)?;
    let name = p.name.clone();
    match existing {
        Some(index) => file.profiles[index] = p,
        None => {
            file.profiles.push(p);
            if file.current_profile.is_none() {
                file.current_profile = Some(name.clone());
            }
        }
    }
    Ok((name, created))
}

fn unset(p: &mut Profile, key: &str) -> anyhow::Result<()> {
    if p.unset(key) {
        return Ok(());
    }
    Err(
        ConfigError::new(format!("--unset {key:?}: not a key that can be unset"))
            .with_hint(profile::UNSETTABLE.join(", "))
            .into(),
    )
}

/// Splits a command line into words as a POSIX shell would (quotes, backslashes; no
/// expansion of any kind), with `shlex`.
pub fn split_words(text: &str) -> Result<Vec<String>, String> {
    let words = shlex::split(text).ok_or("cannot split it into words: an unclosed quote or a trailing backslash")?;
    if words.is_empty() {
        return Err("the command is empty".into());
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Cli;
    use clap::Parser;

    fn set_args(argv: &[&str]) -> ProfileSetArgs {
        let mut full = vec!["k", "profile", "set"];
        full.extend_from_slice(argv);
        match Cli::try_parse_from(full).unwrap().command {
            Some(crate::cli::Command::Profile(ProfileCommand::Set(args))) => *args,
            _ => unreachable!(),
        }
    }

    #[test]
    fn splits_like_a_shell() {
        assert_eq!(
            split_words("pass show 'runai/ci bot'").unwrap(),
            ["pass", "show", "runai/ci bot"]
        );
        assert_eq!(
            split_words(r#"a "b \"c\"" d\ e ''"#).unwrap(),
            ["a", "b \"c\"", "d e", ""]
        );
        assert!(split_words("a 'b").is_err());
        assert!(split_words("  ").is_err());
    }

    #[test]
    fn set_creates_then_updates() {
        let mut file = profile::ProfilesFile::default();
        let args = set_args(&[
            "acme",
            "--url",
            "https://acme.run.ai",
            "--client-id",
            "bot",
            "--client-secret-env",
            "S",
        ]);
        assert_eq!(
            set(&mut file, args, &mut std::io::empty()).unwrap(),
            ("acme".into(), true)
        );
        assert_eq!(file.current_profile.as_deref(), Some("acme"));
        let args = set_args(&["acme", "--client-secret-stdin", "--realm", "r", "--timeout", "5s"]);
        assert_eq!(
            set(&mut file, args, &mut "  s3cret\n".as_bytes()).unwrap(),
            ("acme".into(), false)
        );
        let p = &file.profiles[0];
        assert_eq!(p.client_secret.as_ref().map(|s| s.expose().as_str()), Some("s3cret"));
        assert_eq!(p.client_secret_env, None, "the old secret source is replaced");
        assert_eq!(p.realm.as_deref(), Some("r"));
        let args = set_args(&["acme", "--unset", "realm"]);
        set(&mut file, args, &mut std::io::empty()).unwrap();
        assert_eq!(file.profiles[0].realm, None);
    }

    #[test]
    fn set_refuses_incomplete_or_invalid_profiles() {
        let mut file = profile::ProfilesFile::default();
        let err = set(
            &mut file,
            set_args(&["acme", "--client-id", "bot"]),
            &mut std::io::empty(),
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "new profile \"acme\" needs --url");
        let args = set_args(&["acme", "--url", "https://a", "--client-id", "b"]);
        let err = set(&mut file, args, &mut std::io::empty()).unwrap_err();
        assert_eq!(err.to_string(), "profile \"acme\" needs a secret source");
        let args = set_args(&[
            "acme",
            "--url",
            "http://a.example",
            "--client-id",
            "b",
            "--client-secret-env",
            "S",
        ]);
        let err = set(&mut file, args, &mut std::io::empty()).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("url: \"http://a.example\" must be https://"),
            "{err}"
        );
        assert!(file.profiles.is_empty());
    }

    #[test]
    fn show_never_prints_an_inline_secret() {
        let p = Profile {
            name: "a".into(),
            url: "https://a".into(),
            client_id: "b".into(),
            client_secret: Some(Secret::new("hunter22".into())),
            ..Profile::default()
        };
        let text = show(&p).unwrap();
        assert!(!text.contains("hunter22"), "{text}");
        assert!(
            text.ends_with("# client-secret: set inline in the profiles file (not shown)\n"),
            "{text}"
        );
    }
}
