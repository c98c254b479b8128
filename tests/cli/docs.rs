//! The documentation against the program: every command and flag shown in the docs
//! parses with the real command line, every error message in the troubleshooting
//! guide is one the code can produce, and every section the code or the docs cite
//! exists.

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
    let mut files = Vec::new();
    text_files(dir, &mut files);
    for path in files.iter().filter(|p| p.extension().is_some_and(|e| e == "rs")) {
        // Only the program: unit tests (at the bottom of each file) and comments
        // produce no message.
        let text = std::fs::read_to_string(path).unwrap();
        let program = text.split("#[cfg(test)]\nmod tests").next().unwrap_or(&text);
        for line in program.lines().filter(|l| !l.trim_start().starts_with("//")) {
            out.push_str(line);
            out.push('\n');
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

/// The anchor GitHub gives a heading: lower case, punctuation other than `-` and `_`
/// dropped, spaces turned into hyphens.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The anchors of a Markdown text's headings (outside code blocks), a repeated one
/// numbered as GitHub numbers it (`name`, `name-1`, ...).
fn anchors(text: &str) -> Vec<String> {
    let mut anchors = Vec::new();
    let mut seen: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let mut in_block = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_block = !in_block;
            continue;
        }
        let hashes = line.chars().take_while(|&c| c == '#').count();
        if in_block || !(1..=6).contains(&hashes) || !line[hashes..].starts_with(' ') {
            continue;
        }
        let base = slug(&line[hashes..]);
        let repeats = seen.entry(base.clone()).or_default();
        anchors.push(match *repeats {
            0 => base,
            n => format!("{base}-{n}"),
        });
        *repeats += 1;
    }
    anchors
}

/// Every `docs/NAME.md` or `docs/NAME.md#SECTION` a text cites.
fn cited_sections(text: &str) -> Vec<(String, Option<String>)> {
    let word = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
    let mut cited = Vec::new();
    for (at, _) in text.match_indices("docs/") {
        let rest = &text[at + "docs/".len()..];
        let name_len = rest.find(|c: char| !word(c)).unwrap_or(rest.len());
        let Some(after) = rest[name_len..].strip_prefix(".md") else {
            continue;
        };
        if name_len == 0 || after.starts_with(|c: char| c.is_alphanumeric()) {
            continue;
        }
        let section = after.strip_prefix('#').map(|s| {
            let end = s.find(|c: char| !word(c)).unwrap_or(s.len());
            s[..end].trim_end_matches('-').to_owned()
        });
        cited.push((format!("{}.md", &rest[..name_len]), section));
    }
    cited
}

/// Every local link `](FILE.md#SECTION)` or `](#SECTION)` of a Markdown text, as
/// (file relative to the text, section).
fn linked_sections(text: &str) -> Vec<(String, String)> {
    let mut linked = Vec::new();
    for (at, _) in text.match_indices("](") {
        let rest = &text[at + 2..];
        let Some(target) = rest.split([')', ' ']).next() else {
            continue;
        };
        let Some((file, section)) = target.split_once('#') else {
            continue;
        };
        if file.contains("://") || !(file.is_empty() || file.ends_with(".md")) {
            continue;
        }
        linked.push((file.to_owned(), section.to_owned()));
    }
    linked
}

fn text_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            text_files(&path, out);
        } else {
            out.push(path);
        }
    }
}

#[test]
fn every_cited_section_exists() {
    let docs = Path::new(ROOT).join("docs");
    let sections =
        |file: &Path| -> Option<Vec<String>> { std::fs::read_to_string(file).ok().map(|text| anchors(&text)) };
    let mut citing = vec![Path::new(ROOT).join("build.rs")];
    for dir in ["src", "tests/cli", "scripts", "docs", "deploy", ".github"] {
        text_files(&Path::new(ROOT).join(dir), &mut citing);
    }
    citing.push(Path::new(ROOT).join("README.md"));
    let mut missing = Vec::new();
    let mut checked = 0;
    for path in &citing {
        let Ok(text) = std::fs::read_to_string(path) else {
            continue; // not text
        };
        let mut targets: Vec<(PathBuf, Option<String>)> = cited_sections(&text)
            .into_iter()
            .map(|(name, section)| (docs.join(name), section))
            .collect();
        if path.extension().is_some_and(|e| e == "md") {
            let dir = path.parent().unwrap();
            targets.extend(linked_sections(&text).into_iter().map(|(file, section)| {
                let file = if file.is_empty() { path.clone() } else { dir.join(file) };
                (file, Some(section))
            }));
        }
        for (file, section) in targets {
            checked += 1;
            let Some(anchors) = sections(&file) else {
                missing.push(format!(
                    "{}: cites {}, which does not exist",
                    path.display(),
                    file.display()
                ));
                continue;
            };
            if let Some(section) = section.filter(|s| !anchors.contains(s)) {
                missing.push(format!(
                    "{}: cites {}#{section}, which has no such section",
                    path.display(),
                    file.display()
                ));
            }
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
    assert!(
        checked >= 100,
        "only {checked} citations found: is the pattern still docs/NAME.md#SECTION?"
    );
}

#[test]
fn sections_are_found_as_github_names_them() {
    let text = "# Title\n## Where the time goes\n```sh\n# not a heading\n```\n### `secret apply` and `secret run`\n## Run:ai versions\n## Notes\n## Notes\n#hashtag\n";
    assert_eq!(
        anchors(text),
        [
            "title",
            "where-the-time-goes",
            "secret-apply-and-secret-run",
            "runai-versions",
            "notes",
            "notes-1"
        ]
    );
    let cites = "see docs/security.md#the-token-cache, docs/fleet.md and docs/x.mdx; docs/ alone";
    assert_eq!(
        cited_sections(cites),
        [
            ("security.md".to_owned(), Some("the-token-cache".to_owned())),
            ("fleet.md".to_owned(), None)
        ]
    );
    let links = "[a](commands.md#exit-codes) [b](#rules) [c](https://x.io/a.md#z) [d](fleet.md) [e](x.png#y)";
    assert_eq!(
        linked_sections(links),
        [
            ("commands.md".to_owned(), "exit-codes".to_owned()),
            (String::new(), "rules".to_owned())
        ]
    );
}
