//! Parsing the profiles file's text: the only user of the YAML library here (it is
//! the dependency most likely to be swapped). Errors name the key and the line.

use super::model::{API_VERSION, KIND, ProfilesFile, check_name};
use crate::config_error;

pub(super) struct ParseError {
    pub message: String,
    pub hint: Option<String>,
}

/// Parses the text of a profiles file (no file system, no resolution): the entry
/// point for fuzzing what a user or an editor wrote.
pub fn parse_text(text: &str) -> anyhow::Result<ProfilesFile> {
    parse(text).map_err(|err| config_error!("{}", err.message))
}

pub(super) fn parse(text: &str) -> Result<ProfilesFile, ParseError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    crate::nesting::check(text).map_err(|message| ParseError { message, hint: None })?;
    let file: ProfilesFile = if text.trim().is_empty() {
        ProfilesFile::default()
    } else {
        serde_yaml::from_str(text).map_err(|err| yaml_error(&err))?
    };
    if file.api_version != API_VERSION {
        return Err(ParseError {
            message: format!(
                "apiVersion {:?} is not supported (want {API_VERSION:?})",
                file.api_version
            ),
            hint: None,
        });
    }
    if file.kind != KIND {
        return Err(ParseError {
            message: format!("kind {:?} is not {KIND:?}", file.kind),
            hint: None,
        });
    }
    let mut seen = std::collections::BTreeSet::new();
    for profile in &file.profiles {
        if let Err(err) = check_name(&profile.name) {
            return Err(ParseError {
                message: err.to_string(),
                hint: None,
            });
        }
        if !seen.insert(profile.name.as_str()) {
            let line = key_line(text, &profile.name, "name")
                .map(|l| format!(" (line {l})"))
                .unwrap_or_default();
            return Err(ParseError {
                message: format!("profile {:?} is defined twice{line}", profile.name),
                hint: None,
            });
        }
    }
    Ok(file)
}

/// serde_yaml's message, with the long "expected one of" list moved to the hint.
fn yaml_error(err: &serde_yaml::Error) -> ParseError {
    let message = err.to_string();
    let location = err
        .location()
        .map(|l| format!(" at line {} column {}", l.line(), l.column()))
        .unwrap_or_default();
    if let Some(start) = message.find("unknown field `") {
        let rest = &message[start + "unknown field `".len()..];
        if let Some(end) = rest.find('`') {
            let key = &rest[..end];
            let prefix = message[..start].trim_end_matches(": ").to_owned();
            let expected = rest[end..]
                .split_once("expected one of ")
                .map(|(_, list)| list.split(" at line").next().unwrap_or(list).replace('`', ""));
            let place = if prefix.is_empty() {
                String::new()
            } else {
                format!(" in {prefix}")
            };
            return ParseError {
                message: format!("unknown key {key:?}{place}{location}"),
                hint: expected.map(|list| format!("valid keys here: {list}")),
            };
        }
    }
    if message.contains(" at line ") || location.is_empty() {
        ParseError { message, hint: None }
    } else {
        ParseError {
            message: format!("{message}{location}"),
            hint: None,
        }
    }
}

/// The 1-based line of `key:` inside the profile named `name`, if it can be found.
pub(super) fn key_line(text: &str, name: &str, key: &str) -> Option<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let is_name_line = |line: &str| {
        let trimmed = line.trim_start().trim_start_matches('-').trim_start();
        trimmed.strip_prefix("name:").is_some_and(|value| {
            let value = value.split(" #").next().unwrap_or(value).trim();
            value.trim_matches(|c| c == '"' || c == '\'') == name
        })
    };
    let start = lines.iter().position(|l| is_name_line(l))?;
    // The entry's extent: from its `- ` line back up, to the next `- ` at that indent.
    let entry_start = (0..=start).rev().find(|&i| lines[i].trim_start().starts_with('-'))?;
    let indent = lines[entry_start].len() - lines[entry_start].trim_start().len();
    for (i, line) in lines.iter().enumerate().skip(entry_start) {
        let this_indent = line.len() - line.trim_start().len();
        let ends_entry = this_indent < indent || (this_indent == indent && line.trim_start().starts_with('-'));
        if i > entry_start && !line.trim().is_empty() && ends_entry {
            break;
        }
        let trimmed = line.trim_start().trim_start_matches('-').trim_start();
        if trimmed.strip_prefix(key).is_some_and(|rest| rest.starts_with(':')) {
            return Some(i + 1);
        }
    }
    Some(start + 1)
}

/// The profiles file as YAML, for saving and for `profile show`.
pub fn to_yaml<T: serde::Serialize>(value: &T) -> anyhow::Result<String> {
    serde_yaml::to_string(value).map_err(|err| anyhow::anyhow!("cannot write the profiles file as YAML: {err}"))
}
