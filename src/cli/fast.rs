//! `get` as kubectl runs it, parsed without clap. kubectl runs the plugin before every
//! command, and building clap's command to parse `get --profile P --profiles-file F
//! --output exec-credential` was a third of a cache hit's instructions
//! (docs/performance.md#where-the-time-goes).
//!
//! This parser takes the plain forms only: `get` (or `get-token`) first, then each
//! flag of [`FLAGS`] as its own word, a value as the next word. It declines anything
//! else (`--flag=value`, `-vv`, `--`, a value that starts with `-`, a flag given
//! twice, a flag absent whose variable is set, `--help`, an error of any kind), and
//! the full parser, [`super::Cli`], runs instead.
//!
//! Why the two cannot drift:
//! - It fills [`GlobalArgs`] and [`GetArgs`] with struct literals, so a field added to
//!   either does not compile here until this parser knows it.
//! - A unit test reads clap's own definition of those structs and fails unless
//!   [`FLAGS`] holds exactly its flags: names, short forms, variables, defaults,
//!   whether each takes a value, and which conflict.
//! - Values go through the functions clap's definition names (`ValueEnum`, the value
//!   parsers, `FromStr`), and defaults come from the same constants.
//! - Another (`cli::tests`) runs both parsers on every command line of up to four words
//!   drawn from the flags, values and commands, and they agree wherever this one
//!   answers.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::ValueEnum;

use super::get::{DEFAULT_MIN_VALIDITY, GetArgs, GlobalArgs, OutputFormat, parse_exec_api_version};
use crate::time::GoDuration;

/// What a flag does with the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Takes {
    /// The next word is its value.
    Value,
    /// Nothing: present means true.
    Nothing,
    /// Nothing, and it counts its occurrences (`-v -v`).
    Count,
}

/// One flag of `get` or of every command, as clap's definition has it.
#[derive(Debug)]
pub(super) struct Flag {
    /// clap's id: the field's name.
    pub id: &'static str,
    pub long: &'static str,
    pub short: Option<char>,
    /// The variable clap reads when the flag is absent.
    pub env: Option<&'static str>,
    pub takes: Takes,
    /// The value when the flag is absent.
    pub default: Option<&'static str>,
}

const fn flag(
    id: &'static str,
    long: &'static str,
    short: Option<char>,
    env: Option<&'static str>,
    takes: Takes,
) -> Flag {
    Flag {
        id,
        long,
        short,
        env,
        takes,
        default: None,
    }
}

/// Every flag `get` takes, in [`GlobalArgs`] and [`GetArgs`] order.
pub(super) const FLAGS: [Flag; 9] = [
    flag(
        "profiles_file",
        "profiles-file",
        None,
        Some("RUNAI_PROFILES_FILE"),
        Takes::Value,
    ),
    flag(
        "cache_dir",
        "cache-dir",
        None,
        Some("RUNAI_TOKEN_CACHE_DIR"),
        Takes::Value,
    ),
    flag("profile", "profile", Some('p'), Some("RUNAI_PROFILE"), Takes::Value),
    flag("verbose", "verbose", Some('v'), None, Takes::Count),
    flag("output", "output", Some('o'), None, Takes::Value),
    flag("exec_api_version", "exec-api-version", None, None, Takes::Value),
    flag("force_refresh", "force-refresh", None, None, Takes::Nothing),
    flag("no_cache", "no-cache", None, None, Takes::Nothing),
    Flag {
        default: Some(DEFAULT_MIN_VALIDITY),
        ..flag("min_validity", "min-validity", None, None, Takes::Value)
    },
];

/// The pairs of [`FLAGS`] (by id) that cannot be given together.
pub(super) const CONFLICTS: [(&str, &str); 1] = [("no_cache", "force_refresh")];

/// The arguments of `args` (the program's name first), when it is a plain `get`;
/// `None` means "use the full parser". `var` reads the environment, as clap does.
pub fn fast_get(args: &[OsString], var: impl Fn(&str) -> Option<OsString>) -> Option<(GlobalArgs, GetArgs)> {
    let mut words = args.iter().skip(1).map(|word| word.to_str());
    if !matches!(words.next()??, "get" | "get-token") {
        return None;
    }
    let mut values: [Option<&str>; FLAGS.len()] = [None; FLAGS.len()];
    let mut count = [0u8; FLAGS.len()];
    while let Some(word) = words.next() {
        let word = word?;
        let short = word.strip_prefix('-').filter(|rest| rest.len() == 1);
        let index = FLAGS.iter().position(|flag| {
            word.strip_prefix("--") == Some(flag.long)
                || flag
                    .short
                    .is_some_and(|c| short.is_some_and(|rest| rest.starts_with(c)))
        })?;
        match FLAGS[index].takes {
            Takes::Value => {
                let value = words.next()??;
                if values[index].is_some() || value.is_empty() || value.starts_with('-') {
                    return None;
                }
                values[index] = Some(value);
            }
            Takes::Nothing if count[index] > 0 => return None,
            Takes::Nothing | Takes::Count => count[index] = count[index].checked_add(1)?,
        }
    }
    for (index, flag) in FLAGS.iter().enumerate() {
        let given = values[index].is_some() || count[index] > 0;
        if !given && flag.env.is_some_and(|name| var(name).is_some()) {
            return None;
        }
    }
    let position = |id: &str| FLAGS.iter().position(|flag| flag.id == id);
    let value = |id: &str| position(id).and_then(|index| values[index].or(FLAGS[index].default));
    let times = |id: &str| position(id).map_or(0, |index| count[index]);
    if CONFLICTS.iter().any(|(a, b)| times(a) > 0 && times(b) > 0) {
        return None;
    }
    let global = GlobalArgs {
        profiles_file: value("profiles_file").map(PathBuf::from),
        cache_dir: value("cache_dir").map(PathBuf::from),
        profile: value("profile").map(str::to_owned),
        verbose: times("verbose"),
    };
    let get = GetArgs {
        output: match value("output") {
            Some(text) => Some(OutputFormat::from_str(text, false).ok()?),
            None => None,
        },
        exec_api_version: match value("exec_api_version") {
            Some(text) => Some(parse_exec_api_version(text).ok()?),
            None => None,
        },
        force_refresh: times("force_refresh") > 0,
        no_cache: times("no_cache") > 0,
        min_validity: value("min_validity")?.parse::<GoDuration>().ok()?,
    };
    Some((global, get))
}

#[cfg(test)]
pub(super) mod tests {
    use super::super::get::GetOnly;
    use super::*;
    use clap::{ArgAction, CommandFactory, Parser};

    pub(in crate::cli) fn argv(words: &[&str]) -> Vec<OsString> {
        std::iter::once("k")
            .chain(words.iter().copied())
            .map(Into::into)
            .collect()
    }

    pub(in crate::cli) fn no_env(_: &str) -> Option<OsString> {
        None
    }

    /// [`FLAGS`] and [`CONFLICTS`] are what clap's definition of `get` says, flag by
    /// flag: a flag added, renamed, given a variable, a default, another action, an
    /// alias or a conflict fails here until this parser knows it.
    #[test]
    fn the_flags_are_clap_s() {
        let mut command = GetOnly::command();
        command.build();
        let args: Vec<&clap::Arg> = command.get_arguments().filter(|arg| arg.get_id() != "help").collect();
        let ids: Vec<&str> = args.iter().map(|arg| arg.get_id().as_str()).collect();
        let known: Vec<&str> = FLAGS.iter().map(|flag| flag.id).collect();
        assert_eq!(ids, known);
        for (arg, flag) in args.iter().zip(&FLAGS) {
            let id = flag.id;
            assert_eq!(arg.get_long(), Some(flag.long), "{id}");
            assert_eq!(arg.get_short(), flag.short, "{id}");
            assert_eq!(arg.get_env().map(|name| name.to_str().unwrap()), flag.env, "{id}");
            let takes = match arg.get_action() {
                ArgAction::Set => Takes::Value,
                ArgAction::SetTrue => Takes::Nothing,
                ArgAction::Count => Takes::Count,
                other => panic!("{id}: {other:?} is not known here"),
            };
            assert_eq!(takes, flag.takes, "{id}");
            let range = arg.get_num_args().expect("built");
            let values = if takes == Takes::Value { 1 } else { 0 };
            assert_eq!((range.min_values(), range.max_values()), (values, values), "{id}");
            // A switch's and a count's defaults are clap's false and 0, which the
            // struct literals give too.
            if takes == Takes::Value {
                let defaults: Vec<&str> = arg.get_default_values().iter().map(|d| d.to_str().unwrap()).collect();
                assert_eq!(defaults, flag.default.into_iter().collect::<Vec<_>>(), "{id}");
            }
            assert_eq!(arg.get_all_aliases(), None, "{id}");
            assert_eq!(arg.get_all_short_aliases(), None, "{id}");
            assert!(
                arg.get_value_delimiter().is_none() && arg.get_value_terminator().is_none(),
                "{id}"
            );
            assert!(
                !(arg.is_positional()
                    || arg.is_required_set()
                    || arg.is_exclusive_set()
                    || arg.is_allow_hyphen_values_set()
                    || arg.is_allow_negative_numbers_set()
                    || arg.is_require_equals_set()
                    || arg.is_ignore_case_set()
                    || arg.is_last_set()),
                "{id}: a setting this parser does not follow"
            );
        }
        // Each pair once, whichever side declares it (clap enforces both ways).
        let mut declared: Vec<(&str, &str)> = args
            .iter()
            .flat_map(|arg| {
                command.get_arg_conflicts_with(arg).into_iter().map(|other| {
                    let (a, b) = (arg.get_id().as_str(), other.get_id().as_str());
                    (a.max(b), a.min(b))
                })
            })
            .collect();
        declared.sort();
        declared.dedup();
        let mut known: Vec<(&str, &str)> = CONFLICTS.iter().map(|&(a, b)| (a.max(b), a.min(b))).collect();
        known.sort();
        assert_eq!(declared, known);
        // The groups clap's derive makes of each struct, which constrain nothing.
        for group in command.get_groups() {
            let id = group.get_id().as_str();
            assert!(
                ["GlobalArgs", "GetArgs", "GetOnly"].contains(&id),
                "a group this parser does not follow: {id}"
            );
            assert!(
                group.clone().is_multiple() && !group.is_required_set(),
                "{id} constrains its flags"
            );
        }
    }

    #[test]
    fn what_kubectl_runs_takes_the_fast_path_and_the_rest_does_not() {
        let setup = [
            "get",
            "--profile",
            "acme",
            "--profiles-file",
            "/p.yaml",
            "--output",
            "exec-credential",
        ];
        let (global, get) = fast_get(&argv(&setup), no_env).expect("setup's command line");
        assert_eq!(global.profile.as_deref(), Some("acme"));
        assert_eq!(global.profiles_file, Some(PathBuf::from("/p.yaml")));
        assert_eq!(get.output, Some(OutputFormat::ExecCredential));
        assert_eq!(get.min_validity, GoDuration(std::time::Duration::from_secs(60)));
        let beta = [&setup[..], &["--exec-api-version", "v1beta1"]].concat();
        assert!(fast_get(&argv(&beta), no_env).is_some());
        assert!(
            fast_get(
                &argv(&["get-token", "--cache-dir", "/c", "-o", "exec-credential"]),
                no_env
            )
            .is_some()
        );
        for declined in [
            &["get", "--help"][..],
            &["-v", "get"],
            &["-V"],
            &["profile", "list"],
            &["get", "--bogus"],
            &["get", "--no-cache", "--force-refresh"],
            &["get", "-p", "a", "-p", "b"],
            &["get", "--no-cache", "--no-cache"],
            &["get", "--min-validity", "soon"],
            &["get", "-o"],
            &[],
        ] {
            assert!(
                fast_get(&argv(declined), no_env).is_none(),
                "{declined:?} must go through the full parser"
            );
        }
        // A variable clap would read declines the fast path; a flag given makes it moot.
        for flag in FLAGS.iter().filter(|flag| flag.env.is_some()) {
            let name = flag.env.unwrap();
            let set = |var: &str| (var == name).then(|| OsString::from("x"));
            assert!(fast_get(&argv(&["get"]), set).is_none(), "{name}");
            let given = ["get", &format!("--{}", flag.long), "value"];
            assert!(fast_get(&argv(&given), set).is_some(), "{name}");
        }
        // The variables are clap's.
        let parsed = GetOnly::try_parse_from(["k", "--profile", "x"]).unwrap();
        assert_eq!(parsed.global.profile.as_deref(), Some("x"));
    }
}
