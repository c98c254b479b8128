//! The documentation against the program: every command and flag shown in the docs
//! parses with the real command line, and every error message in the troubleshooting
//! guide is one the code can produce.

use std::path::{Path, PathBuf};

use clap::Parser;
use runai_token::cli::Cli;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn documents() -> Vec<(PathBuf, String)> {
    let mut files = vec![Path::new(ROOT).join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(Path::new(ROOT).join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    files
        .into_iter()
        .map(|p| (p.clone(), std::fs::read_to_string(&p).unwrap()))
        .collect()
}

/// Every `kubectl runai-token ...` in a code block or an inline code span.
fn documented_commands(text: &str) -> Vec<String> {
    let mut commands = Vec::new();
    let mut in_block = false;
    let mut pending = String::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_block = !in_block;
            continue;
        }
        let mut sources: Vec<String> = Vec::new();
        if in_block {
            // Continuation lines join the command they continue.
            let joined = format!("{pending}{line}");
            if let Some(stripped) = joined.strip_suffix('\\') {
                pending = stripped.to_owned();
                continue;
            }
            pending.clear();
            sources.push(joined);
        } else {
            sources.extend(line.split('`').skip(1).step_by(2).map(str::to_owned));
        }
        for source in sources {
            let mut rest = source.as_str();
            while let Some(start) = rest.find("kubectl runai-token") {
                let command = &rest[start + "kubectl runai-token".len()..];
                let command = command.split(" #").next().unwrap_or(command); // a shell comment
                let end = command
                    .find([')', '|', ';', '&', '>', '<', '`'])
                    .unwrap_or(command.len());
                commands.push(command[..end].trim().to_owned());
                rest = &command[end..];
            }
        }
    }
    commands
}

#[test]
fn every_documented_command_and_flag_exists() {
    let mut checked = 0;
    for (path, text) in documents() {
        for command in documented_commands(&text) {
            // Synopses such as "kubectl runai-token [GLOBAL FLAGS] COMMAND [FLAGS]" are not examples.
            // An empty one is the bare `kubectl runai-token` (the help).
            if command.is_empty() || command.contains('[') || command.contains("...") || command.contains("COMMAND") {
                continue;
            }
            let words = runai_token::cmd::profile::split_words(&command)
                .unwrap_or_else(|err| panic!("{}: `kubectl runai-token {command}`: {err}", path.display()));
            let mut argv = vec!["kubectl-runai-token".to_owned()];
            argv.extend(words);
            match Cli::try_parse_from(&argv) {
                Ok(_) => {}
                Err(err)
                    if matches!(
                        err.kind(),
                        clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion
                    ) => {}
                Err(err) => panic!(
                    "{}: `kubectl runai-token {command}` does not parse:\n{err}",
                    path.display()
                ),
            }
            checked += 1;
        }
    }
    assert!(
        checked >= 60,
        "only {checked} documented commands found: is the extraction broken?"
    );
}

/// Every `### \`error: ...\`` heading of the troubleshooting guide: each literal part
/// between the `<...>` placeholders (split at punctuation, parts of 8 characters or
/// more) appears in the program's source.
#[test]
fn every_troubleshooting_error_is_one_the_code_can_produce() {
    let guide = std::fs::read_to_string(Path::new(ROOT).join("docs").join("troubleshooting.md")).unwrap();
    let mut sources = String::new();
    collect_sources(&Path::new(ROOT).join("src"), &mut sources);
    let mut checked = 0;
    for heading in guide.lines().filter_map(|l| l.strip_prefix("### `error: ")) {
        let message = heading.trim_end_matches('`');
        let mut literal = String::new();
        let mut depth = 0;
        for c in message.chars() {
            match c {
                '<' => {
                    depth += 1;
                    literal.push('\u{0}');
                }
                '>' if depth > 0 => depth -= 1,
                _ if depth > 0 => {}
                c => literal.push(c),
            }
        }
        let parts: Vec<&str> = literal
            .split(['\u{0}', '"', '(', ')', ':', ','])
            .map(str::trim)
            .filter(|part| part.len() >= 8)
            .collect();
        assert!(!parts.is_empty(), "nothing to check in {message:?}");
        for part in parts {
            assert!(
                sources.contains(part),
                "troubleshooting lists {message:?}, but {part:?} is in no source file"
            );
        }
        checked += 1;
    }
    assert!(
        checked >= 25,
        "only {checked} messages found: is the heading format still `### \\`error: ...\\``?"
    );
}

fn collect_sources(dir: &Path, out: &mut String) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect_sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            // Only the program: unit tests (at the bottom of each file) and comments
            // produce no message.
            let text = std::fs::read_to_string(&path).unwrap();
            let program = text.split("#[cfg(test)]\nmod tests").next().unwrap_or(&text);
            for line in program.lines().filter(|l| !l.trim_start().starts_with("//")) {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
}

#[test]
fn the_extraction_sees_blocks_spans_and_continuations() {
    let text = "Run `kubectl runai-token get -o json` here.\n```sh\nkubectl runai-token profile set a \\\n  --url https://x\neval \"$(kubectl runai-token get -o env)\"\n```\n";
    assert_eq!(
        documented_commands(text),
        ["get -o json", "profile set a   --url https://x", "get -o env"]
    );
}

#[test]
fn the_readme_links_every_doc() {
    let readme = std::fs::read_to_string(Path::new(ROOT).join("README.md")).unwrap();
    for (path, _) in documents().into_iter().skip(1) {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            readme.contains(&format!("docs/{name}")),
            "README.md does not link docs/{name}"
        );
    }
}
